"""Leak-tracing audio watermark that survives a phone line: a keyed 24-bit serve index (version 3).

The mark is a keyed pattern of gain changes (a patchwork) on time–frequency tiles of the speech
itself: 44 bands of 62.5 Hz between 406 and 3156 Hz, 32 ms long. A tile's sign says whether its
band gets louder or quieter than its neighbourhood; each coded bit is spread over about ten tiles.
The 24-bit index and a keyed 24-bit tag are convolutionally encoded; embedding is informed (tiles
get gain only where the speech does not already carry the bit with margin). Detection searches
speed (±2 %) and block phase, decodes every candidate by Viterbi and accepts a payload only when
its keyed tag matches. Version 3 measures tile contrast against a 3-frame (not 5-frame) local mean
and weighs cells near the noise floor more at detection; at the alignment as served, detection also
weighs each frame by how far it stands above the clip's quiet frames (noise alone carries no mark)
and reads each cell's log-energy over its whole tile against a 7-band local mean. Clips marked by version 2 are
read by ``protect._watermark_v2``. See docs/models/watermark.md.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
from numpy.typing import NDArray

from overheard.errors import BadRequest

from . import _convcode, _scratch

VERSION = 3
"""Mark version (2: ``protect._watermark_v2``; 1: ``protect._watermark_v1``, 32-bit ids)."""
PAYLOAD_BITS = 24
"""Bits of the serve index marked into a clip (the ``watermarks`` row id)."""
TAG_BITS = 24
"""Bits of the keyed tag that guards every payload (HMAC-SHA256, truncated)."""
CODE_BITS = PAYLOAD_BITS + TAG_BITS
CODED_BITS = _convcode.coded_bits(CODE_BITS)
"""Coded bits per block (162)."""
SAMPLE_RATE_HZ = 16000
FRAME_SAMPLES = 512
"""Analysis frame (32 ms, square-root Hann)."""
SPEC_BINS = FRAME_SAMPLES // 2 + 1
"""Bins of a frame's real spectrum."""
HOP_SAMPLES = 256
"""Frame step (16 ms)."""
BAND_HZ = (400.0, 3200.0)
"""The mark lives here: inside a telephone channel."""
BINS_PER_BAND = 2
"""FFT bins per band (62.5 Hz)."""
BANDS = 44
"""Bands from ``BAND_HZ[0]`` up."""
TILE_FRAMES = 2
"""Frames per tile (32 ms)."""
BLOCK_TILES = 39
"""Tiles per block in time; the block (1.25 s) repeats over the clip."""
BLOCK_FRAMES = TILE_FRAMES * BLOCK_TILES
LOCAL_FRAMES = 3
LOCAL_BANDS = 5
"""Features are log-energies minus their mean over this many frames × bands (the speech's shape)."""
MARGIN_DB = 2.0
"""Informed embedding lifts each coded bit's tile contrast to this many dB per tile."""
MAX_GAIN_DB = 6.0
"""Largest gain change on one tile, dB (the loudness cap)."""
PASSES = 3
"""Embedding re-measures and tops up this many times (overlap-add smears tile edges)."""
FLOOR_PERCENTILE = 20.0
"""Percentile of a band's energy over frames taken as its floor (noise or silence)."""
EMBED_FLOOR_WEIGHT = 4.0
"""Embedding counts a cell at this many times its band's floor half (see ``_features``)."""
DETECT_FLOOR_WEIGHT = 0.5
"""Detection counts a cell at this many times its band's floor half: noisy cells still vote."""
DETECT_PRESENCE = True
"""Whether detection, at the alignment as served, also weighs each frame by how far it stands above
the clip's quiet frames (``_presence``): frames of noise alone, which carry no mark, vote less (a
wake word alone is about 0.6 s of speech in a 1.5–3 s clip)."""
DETECT_SERVED_TILES = True
"""Whether detection, at the alignment as served, takes a cell's log-energy over its whole tile
(both frames' energies summed before the log) and subtracts its mean over ``SERVED_LOCAL_BANDS``
bands (``_served_features``): a noisy cell's log is steadier, its own gain less subtracted."""
SERVED_LOCAL_BANDS = 7
"""Bands of the local mean at the alignment as served with ``DETECT_SERVED_TILES``."""
PRESENCE_PERCENTILE = 20.0
"""Percentile of a clip's in-band frame energies taken as its quiet level (noise or silence)."""
PRESENCE_WEIGHT = 1.0
"""A frame counts E / (E + this × the quiet level), E its in-band energy."""
SCALES = (0.98, 0.99, 1.0, 1.01, 1.02)
"""Speed factors the detector tries (±2 % in 1 % steps; a step's neighbours are tolerated)."""
SOFT_CLIP = 1.5
"""Soft bits are clipped at this many times their median magnitude (one loud cell cannot dominate)."""
CHECKS = 32
"""Candidates (speed × phase) whose keyed tag is checked, best Viterbi metric first."""
ISSUED_FALSE_POSITIVE = 2.0**-20
"""False-trace probability added by the search over issued ids, per unmarked clip (union bound)."""
ISSUED_POOLED = True
"""Whether, given the issued ids, a payload decoded by Viterbi counts only if it was issued, and the
search gets what that leaves of the whole bound: Viterbi's part shrinks from ``CHECKS`` × 2⁻²⁴ to
that × ids / 2²⁴ (see ``_search_budget``), the bound per clip stays what it was."""
ISSUED_ALIGNMENTS = 16
"""Alignments (best match first) whose Chernoff bound the issued-id search evaluates."""
ISSUED_PRESELECTED = 4
"""Alignments with the best Viterbi metric (chosen without looking at any id) that the search also
tests under a union over themselves alone (its part of the budget: ``ISSUED_SHARES``)."""
ISSUED_AS_SERVED = True
"""Whether the search also tests the alignment of the clip as served (speed 1, block phase 0: a
leak that keeps the file's first sample, e.g. re-encoded or with noise added) under a union over
the ids alone; fixed before any audio is seen, so it is no selection over the codewords."""
ISSUED_SHARES = (0.25, 0.25, 0.5)
"""Parts of ``ISSUED_FALSE_POSITIVE`` given to the tests over every alignment, over the preselected
alignments and at the alignment as served (a part whose test is switched off goes to the others)."""
ISSUED_REFINED = 3
"""Alignments (closest to acceptance first) whose tail the search sums exactly when the Chernoff
bound accepts none (about 0.3 s each)."""
ISSUED_REFINE_NATS = 4.0
"""Only alignments whose Chernoff bound misses the threshold by less than this are refined (the
exact tail was 1.9–2.1 nats under the bound where it matters)."""
ISSUED_CHUNK = 8192
"""Issued ids correlated at once (memory: alignments × chunk floats)."""
_LAMBDAS = np.geomspace(0.02, 4.0, 48)
"""Chernoff parameters tried (soft bits are normalised to a median magnitude of 1)."""

SCRATCH = _scratch.Scratch()
"""Working memory of this process's marking passes (kept between serves)."""

_EPS = 1e-3
"""Power floor (int16² units) so digital silence has a finite log."""
_MATCH_ROUNDING = 1e-3
"""Taken off a match (computed in float32) before its tail is summed exactly."""


@dataclass(frozen=True)
class Trace:
    """What a clip says about where it came from."""

    payload: int | None
    """The serve index, or None when no valid mark is found."""
    score: float
    """Normalised Viterbi metric of the best candidate (1.0 = every soft bit agrees)."""
    false_positive_bound: float
    """Probability that an unmarked clip yields a payload under this decision rule."""


@dataclass(frozen=True)
class _Code:
    """Key-derived material: tile signs, tile → coded-bit map and a payload whitening mask."""

    signs: NDArray[np.float64]
    """±1 per tile (BLOCK_TILES, BANDS)."""
    bit_of_tile: NDArray[np.int64]
    """Coded bit each tile carries (BLOCK_TILES, BANDS)."""
    mask: int
    by_bit: NDArray[np.int64]
    """Tiles (flattened) ordered by the coded bit they carry."""
    bit_starts: NDArray[np.int64]
    """Where each coded bit's tiles start in ``by_bit``."""
    tiles_per_bit: NDArray[np.int64]
    """How many tiles carry each coded bit (CODED_BITS)."""


@dataclass(frozen=True)
class Issued:
    """The ids issued so far (the ``watermarks`` table) with their codewords under one key."""

    ids: NDArray[np.int64]
    codewords: NDArray[np.float32]
    """±1 per coded bit (ids, CODED_BITS)."""


def issued(ids: NDArray[np.int64] | list[int], key: bytes) -> Issued:
    """Codewords of the issued 24-bit ``ids`` under ``key`` (others are ignored), for ``detect``."""
    arr = np.unique(np.asarray(ids, dtype=np.int64))
    arr = arr[(arr >= 0) & (arr < 2**PAYLOAD_BITS)]
    tags = np.array([_tag(key, int(i)) for i in arr], dtype=np.int64)
    words = ((arr ^ _code(key).mask) << TAG_BITS) | tags
    return Issued(ids=arr, codewords=_convcode.encode_many(words, CODE_BITS))


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"overheard.watermark.v2." + label, hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _code(key: bytes) -> _Code:
    rng = np.random.default_rng(int.from_bytes(_derive(key, b"tiles"), "big"))
    tiles = BLOCK_TILES * BANDS
    bits = rng.permutation(np.arange(tiles) % CODED_BITS).reshape(BLOCK_TILES, BANDS)
    signs = rng.choice([-1.0, 1.0], size=(BLOCK_TILES, BANDS))
    mask = int.from_bytes(_derive(key, b"mask")[:4], "big") % 2**PAYLOAD_BITS
    by_bit = np.argsort(bits.ravel(), kind="stable")
    starts = np.searchsorted(bits.ravel()[by_bit], np.arange(CODED_BITS))
    per_bit = np.bincount(bits.ravel(), minlength=CODED_BITS)
    return _Code(signs, bits, mask, by_bit, starts, per_bit)


def _tag(key: bytes, payload: int) -> int:
    digest = _derive(key, b"tag" + payload.to_bytes(4, "big"))
    return int.from_bytes(digest[:4], "big") % 2**TAG_BITS


def _codeword(key: bytes, payload: int) -> NDArray[np.float64]:
    """±1 per coded bit: the whitened payload then its keyed tag, convolutionally encoded."""
    word = ((payload ^ _code(key).mask) << TAG_BITS) | _tag(key, payload)
    return _convcode.encode(word, CODE_BITS)


def _first_bin() -> int:
    """The FFT bin where the lowest band starts."""
    return math.ceil(BAND_HZ[0] * FRAME_SAMPLES / SAMPLE_RATE_HZ)


@lru_cache(maxsize=1)
def _window() -> NDArray[np.float64]:
    return np.sqrt(np.hanning(FRAME_SAMPLES + 1)[:-1])


@lru_cache(maxsize=1)
def _hann() -> NDArray[np.float64]:
    return _window() ** 2


def _stft(x: NDArray[np.float64], hann: bool = False) -> NDArray[np.complex128]:
    """Frames centred on every hop (frame n at sample n × HOP_SAMPLES)."""
    return np.fft.rfft(_frames(_padded(x)) * (_hann() if hann else _window()), axis=1)


def _padded(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x`` with half a frame of zeros before it and at least that many after, to whole hops."""
    half = FRAME_SAMPLES // 2
    padded = np.zeros(len(x) + 2 * half + (-len(x)) % HOP_SAMPLES)
    padded[half : half + len(x)] = x
    return padded


def _frames(padded: NDArray[np.float64]) -> NDArray[np.float64]:
    """The frames of a padded clip, one every hop (a view, frames × FRAME_SAMPLES)."""
    return np.lib.stride_tricks.sliding_window_view(padded, FRAME_SAMPLES)[::HOP_SAMPLES]


def _band() -> slice:
    """The FFT bins of the bands, lowest first."""
    return slice(_first_bin(), _first_bin() + BANDS * BINS_PER_BAND)


def _overlap_add(frames: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """Windowed frames (n, FRAME_SAMPLES) added at half overlap into ``out`` (n + 1, HOP_SAMPLES)."""
    out[:-1] = frames[:, :HOP_SAMPLES]
    out[-1] = 0.0
    out[1:] += frames[:, HOP_SAMPLES:]


def _features(
    spec: NDArray[np.complex128], floor_weight: float, presence: bool = False
) -> NDArray[np.float64]:
    """Weighted band log-energies (frames, BANDS), dB minus their local mean.

    A cell's weight is its energy over energy plus ``floor_weight`` × its band's floor (a low
    percentile over frames): cells drowned in noise or silence count less. With ``presence``
    (detection), times its frame's ``_presence``.
    """
    power = np.abs(spec[:, _band()]) ** 2
    # The bands are runs of adjacent bins: summing each run is the per-band energy (added bin by
    # bin, which is what a sum over the run does, at a fraction of a small-axis reduction's cost).
    energy = _run_sums(power, BINS_PER_BAND, axis=1)
    db = 10 * np.log10(energy + _EPS)
    db -= _local_mean(db)
    floor = _percentile(energy, FLOOR_PERCENTILE)
    weighted = db * energy / (energy + floor_weight * floor + _EPS)
    if presence:
        weighted *= _presence(energy)
    return weighted


def _presence(energy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per frame (frames, 1): its in-band energy E over E + ``PRESENCE_WEIGHT`` × the clip's
    quiet level (``PRESENCE_PERCENTILE`` of the frames' E). About 1 on speech, 1/2 on frames of
    noise alone: where the clip is silence plus whatever noise a leak added, there is no mark."""
    total = energy.sum(axis=1, keepdims=True)
    quiet = _percentile(total, PRESENCE_PERCENTILE)
    return total / (total + PRESENCE_WEIGHT * quiet + _EPS)


def _run_sums(values: NDArray[np.float64], run: int, axis: int) -> NDArray[np.float64]:
    """Sums of consecutive runs of ``run`` entries along ``axis`` (0 or 1), added first to last."""
    parts = [values[k::run] if axis == 0 else values[:, k::run] for k in range(run)]
    total = parts[0] + parts[1] if run > 1 else parts[0].copy()
    for part in parts[2:]:
        total += part
    return total


def _percentile(values: NDArray[np.float64], percent: float) -> NDArray[np.float64]:
    """``np.percentile(values, percent, axis=0, keepdims=True)`` (linear), bit for bit, without
    its generic machinery (it runs on every measurement of every serve)."""
    at = (len(values) - 1) * (percent / 100)
    below = math.floor(at)
    above = min(below + 1, len(values) - 1)
    ranked = np.partition(values, (below, above) if above != below else below, axis=0)
    low, high = ranked[below : below + 1], ranked[above : above + 1]
    weight = at - below
    step = high - low
    # numpy's lerp: from the lower value below the middle, back from the upper one from it on.
    return high - step * (1 - weight) if weight >= 0.5 else low + step * weight


def _local_mean(db: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean of each cell's LOCAL_FRAMES x LOCAL_BANDS neighbourhood, edges repeated (what
    ``scipy.ndimage.uniform_filter(db, size, mode="nearest")`` gives, in numpy alone: the web
    processes mark every serve and need not load scipy for it)."""
    return _box_mean(_box_mean(db, LOCAL_FRAMES, 0), LOCAL_BANDS, 1)


def _box_mean(values: NDArray[np.float64], size: int, axis: int) -> NDArray[np.float64]:
    """Mean over ``size`` neighbours along ``axis``, centred, edges repeated (summed in order)."""
    n = values.shape[axis]
    first, last = (values.take([i], axis=axis) for i in (0, n - 1))
    before = size // 2
    padded = np.concatenate([first] * before + [values] + [last] * (size - 1 - before), axis=axis)
    cut = [slice(None)] * values.ndim

    def shifted(k: int) -> NDArray[np.float64]:
        cut[axis] = slice(k, k + n)
        return padded[tuple(cut)]

    total = shifted(0) + shifted(1) if size > 1 else shifted(0).copy()
    for k in range(2, size):
        total += shifted(k)
    total /= size
    return total


def _tile_sums(features: NDArray[np.float64], phases: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per block phase p: summed features of each tile, (phases, BLOCK_TILES, BANDS).

    Phase p means the clip's frame 0 sat at block frame p.
    """
    folded = _folded(features)
    rolled = folded[(np.arange(BLOCK_FRAMES)[None, :] - phases[:, None]) % BLOCK_FRAMES]
    return rolled.reshape(len(phases), BLOCK_TILES, TILE_FRAMES, BANDS).sum(axis=2)


def _folded(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """Features summed over blocks (BLOCK_FRAMES, BANDS): block frame i holds frames i, i + 78, …"""
    padded = np.zeros((len(features) + (-len(features)) % BLOCK_FRAMES, BANDS))
    padded[: len(features)] = features
    return padded.reshape(-1, BLOCK_FRAMES, BANDS).sum(axis=0)


def _soft_bits(tiles: NDArray[np.float64], code: _Code) -> NDArray[np.float64]:
    """Soft coded bits (candidates, CODED_BITS) from tile sums: signed sums over each bit's tiles."""
    signed = (tiles * code.signs).reshape(len(tiles), -1)[:, code.by_bit]
    return np.add.reduceat(signed, code.bit_starts, axis=1)


def _to_internal(pcm: NDArray[np.int16], sample_rate_hz: int) -> NDArray[np.float64]:
    if pcm.ndim != 1:
        raise BadRequest("watermark needs mono PCM (a 1-D array)", code="not_mono")
    return _resample(pcm.astype(np.float64), SAMPLE_RATE_HZ, sample_rate_hz)


def _resample(x: NDArray[np.float64], up: int, down: int) -> NDArray[np.float64]:
    if up == down:
        return x
    from scipy.signal import resample_poly  # only off the serving path (16 kHz there)

    g = gcd(up, down)
    return resample_poly(x, up // g, down // g)


def embed(
    pcm: NDArray[np.int16], payload: int, key: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> NDArray[np.int16]:
    """Return ``pcm`` (int16 mono) with ``payload`` (24 bits) marked under ``key``; same length."""
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise BadRequest("watermark payload must fit in 24 bits", code="bad_payload")
    x = _to_internal(pcm, sample_rate_hz)
    if not markable(x):
        return pcm.copy()
    marked = _mark(x, payload, key)
    mark = _resample(marked - x, sample_rate_hz, SAMPLE_RATE_HZ)[: len(pcm)]
    return with_mark(pcm, np.pad(mark, (0, len(pcm) - len(mark))))


def markable(x: NDArray[np.float64]) -> bool:
    """Whether ``embed`` marks the clip ``x`` (16 kHz, float): at least a frame, not all silence."""
    return len(x) >= FRAME_SAMPLES and bool(np.any(x))


def with_mark(pcm: NDArray[np.int16], mark: NDArray[np.float64]) -> NDArray[np.int16]:
    """``pcm`` plus ``mark`` (same length, int16 units), rounded and clipped to int16."""
    out = pcm.astype(np.float64)
    out += mark
    np.round(out, out=out)
    return np.clip(out, -32768, 32767, out=out).astype(np.int16)


@dataclass(frozen=True)
class Analysis:
    """What marking a clip needs before it knows the payload (serving keeps it per clip)."""

    x: NDArray[np.float64]
    """The clip at 16 kHz, float (int16 units)."""
    spec: NDArray[np.complex128]
    """Its square-root-Hann spectrum."""
    tile_of_frame: NDArray[np.int64]
    frames_per_tile: NDArray[np.int64]
    first_tiles: NDArray[np.float64]
    """Per-frame tile contrasts of the unmarked clip (the first pass's measurement)."""

    @property
    def nbytes(self) -> int:
        """Memory the arrays hold."""
        arrays = (self.x, self.spec, self.tile_of_frame, self.frames_per_tile, self.first_tiles)
        return sum(a.nbytes for a in arrays)


FIRST_TILES_SHAPE = (BLOCK_TILES, BANDS)
"""Shape of ``Analysis.first_tiles`` (float64)."""


def analyse(x: NDArray[np.float64], first_tiles: NDArray[np.float64] | None = None) -> Analysis:
    """The payload-free part of marking ``x`` (16 kHz, float, int16 units). ``first_tiles``:
    ``first_measurement(x)`` made before (kept with the clip), taken instead of measuring again."""
    frames = _frames(_padded(x))
    n = len(frames)
    tile_of_frame, frames_per_tile = _tiling(n)
    need = _scratch.block_bytes(((n, FRAME_SAMPLES), np.float64), ((n, SPEC_BINS), np.complex128))
    with SCRATCH.borrowed(need) as block:
        windowed = block.array((n, FRAME_SAMPLES), np.float64)
        spec = np.fft.rfft(np.multiply(frames, _window(), out=windowed), axis=1)
        if first_tiles is None or first_tiles.shape != FIRST_TILES_SHAPE:
            measured = block.array((n, SPEC_BINS), np.complex128)
            first_tiles = _first_tiles(frames, frames_per_tile, windowed, measured)
    return Analysis(x, spec, tile_of_frame, frames_per_tile, first_tiles)


def first_measurement(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``analyse(x).first_tiles``, alone: the tile contrasts of the unmarked clip, which do not
    depend on the payload (the rendition job keeps them with the clip)."""
    frames = _frames(_padded(x))
    n = len(frames)
    need = _scratch.block_bytes(((n, FRAME_SAMPLES), np.float64), ((n, SPEC_BINS), np.complex128))
    with SCRATCH.borrowed(need) as block:
        windowed = block.array((n, FRAME_SAMPLES), np.float64)
        measured = block.array((n, SPEC_BINS), np.complex128)
        return _first_tiles(frames, _tiling(n)[1], windowed, measured)


def _tiling(n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For a clip of ``n`` frames: each frame's tile in the block, and frames per tile (at least 1)."""
    tile_of_frame = (np.arange(n) // TILE_FRAMES) % BLOCK_TILES
    return tile_of_frame, np.maximum(np.bincount(tile_of_frame, minlength=BLOCK_TILES), 1)


def _first_tiles(
    frames: NDArray[np.float64],
    frames_per_tile: NDArray[np.int64],
    windowed: NDArray[np.float64],
    measured: NDArray[np.complex128],
) -> NDArray[np.float64]:
    """The first pass's measurement of ``frames`` (the unmarked clip), in the given buffers."""
    np.fft.rfft(np.multiply(frames, _hann(), out=windowed), axis=1, out=measured)
    return _mean_tiles(measured, frames_per_tile)


def _mean_tiles(
    measured: NDArray[np.complex128], frames_per_tile: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Per-frame tile contrasts as the embedder measures them from a clip's Hann spectrum
    ``measured``, (BLOCK_TILES, BANDS) (block phase 0: the clip as it is served)."""
    tiles = _run_sums(_folded(_features(measured, EMBED_FLOOR_WEIGHT)), TILE_FRAMES, axis=0)
    return tiles / frames_per_tile[:, None]


def _mark(x: NDArray[np.float64], payload: int, key: bytes) -> NDArray[np.float64]:
    """``x`` at 16 kHz with the tile gains that carry ``payload`` (float, int16 units)."""
    return mark_analysed(analyse(x), payload, key)


def mark_analysed(a: Analysis, payload: int, key: bytes) -> NDArray[np.float64]:
    """The clip of ``a`` with the tile gains that carry ``payload``: each pass measures the tile
    contrasts of the clip as marked so far (the first pass's, of the unmarked clip, come with
    ``a``) and raises the gains of the bits still short of the margin."""
    code = _code(key)
    wanted = _codeword(key, payload)
    gain_db = np.zeros((BLOCK_TILES, BANDS))
    with SCRATCH.borrowed(_Resynthesis.block_bytes(len(a.spec))) as block:
        clip = _Resynthesis(a, block)
        for step_no in range(PASSES):
            mean_tiles = a.first_tiles if step_no == 0 else clip.mean_tiles()
            soft = _soft_bits(mean_tiles[None], code)[0]
            shortfall = np.maximum(0.0, MARGIN_DB * code.tiles_per_bit - wanted * soft)
            shortfall /= code.tiles_per_bit
            step = (wanted * shortfall)[code.bit_of_tile] * code.signs
            gain_db = np.clip(gain_db + step, -MAX_GAIN_DB, MAX_GAIN_DB)
            clip.resynthesise(gain_db)
        return clip.signal().copy()


class _Resynthesis:
    """An analysed clip made again with gains on its tiles, in one borrowed block every pass reuses."""

    def __init__(self, a: Analysis, block: _scratch.Block) -> None:
        n = len(a.spec)
        self.a = a
        self.spec = block.array((n, SPEC_BINS), np.complex128)
        self.spec[:] = a.spec  # bins outside BAND_HZ keep a gain of exactly 1
        self.frames = block.array((n, FRAME_SAMPLES), np.float64)
        self.overlap = block.array((n + 1, HOP_SAMPLES), np.float64)
        self.measured = block.array((n, SPEC_BINS), np.complex128)

    @staticmethod
    def block_bytes(n: int) -> int:
        """Bytes the buffers of a clip of ``n`` frames take."""
        return _scratch.block_bytes(
            ((n, SPEC_BINS), np.complex128),
            ((n, FRAME_SAMPLES), np.float64),
            ((n + 1, HOP_SAMPLES), np.float64),
            ((n, SPEC_BINS), np.complex128),
        )

    def resynthesise(self, gain_db: NDArray[np.float64]) -> None:
        """The clip with ``gain_db`` (BLOCK_TILES, BANDS) on every tile, linear per band on its bins."""
        gains = (10 ** (gain_db / 20))[self.a.tile_of_frame]
        band = _band()
        per_bin = np.repeat(gains, BINS_PER_BAND, axis=1)
        np.multiply(self.a.spec[:, band], per_bin, out=self.spec[:, band])
        np.fft.irfft(self.spec, FRAME_SAMPLES, axis=-1, out=self.frames)
        self.frames *= _window()
        _overlap_add(self.frames, self.overlap)

    def signal(self) -> NDArray[np.float64]:
        """The clip as made last (a view into the block)."""
        half = FRAME_SAMPLES // 2
        return self.overlap.reshape(-1)[half : half + len(self.a.x)]

    def mean_tiles(self) -> NDArray[np.float64]:
        """The tile contrasts of the clip as made last (``_mean_tiles`` of its Hann spectrum)."""
        padded = self.overlap.reshape(-1)
        half = FRAME_SAMPLES // 2
        padded[:half] = 0.0  # what overlap-add left beyond the clip's ends is not part of it
        padded[half + len(self.a.x) :] = 0.0
        np.multiply(_frames(padded), _hann(), out=self.frames)
        np.fft.rfft(self.frames, axis=1, out=self.measured)
        return _mean_tiles(self.measured, self.a.frames_per_tile)


def detect(
    pcm: NDArray[np.int16],
    key: bytes,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    among: Issued | None = None,
) -> Trace:
    """Find the payload marked under ``key`` in ``pcm`` (any excerpt of >= ~1.5 s), or None.

    Viterbi decoding with a keyed tag check first; when that finds nothing and ``among`` (the
    issued ids) is given, the best-matching issued id if its match is too good for chance.
    """
    x = _to_internal(pcm, sample_rate_hz)
    bound = CHECKS * 2.0**-TAG_BITS + (ISSUED_FALSE_POSITIVE if among is not None else 0.0)
    pooled = ISSUED_POOLED and among is not None and len(among.ids) > 0
    if len(x) < FRAME_SAMPLES or not np.any(x):
        return Trace(payload=None, score=0.0, false_positive_bound=bound)
    code = _code(key)
    phases = np.arange(BLOCK_FRAMES)
    soft = np.concatenate([_soft_bits(_tile_sums(_scaled(x, s), phases), code) for s in SCALES])
    if DETECT_PRESENCE or DETECT_SERVED_TILES:
        soft[_served_alignment()] = _served_soft(x, code)
    scale = np.median(np.abs(soft), axis=1, keepdims=True) + 1e-9
    soft = np.clip(soft / scale, -SOFT_CLIP, SOFT_CLIP)
    words, metrics = _convcode.decode(soft)
    for idx in np.argsort(metrics)[::-1][:CHECKS]:
        word = int(words[idx])
        payload = (word >> TAG_BITS) ^ code.mask
        if word & (2**TAG_BITS - 1) == _tag(key, payload) and (
            not pooled or _holds(among, payload)
        ):
            return Trace(payload=payload, score=float(metrics[idx]), false_positive_bound=bound)
    payload = None
    if among is not None and len(among.ids):
        budget = _search_budget(len(among.ids)) if pooled else ISSUED_FALSE_POSITIVE
        payload = _search_issued(soft, among, metrics, budget)
    return Trace(payload=payload, score=float(metrics.max()), false_positive_bound=bound)


def _holds(among: Issued | None, payload: int) -> bool:
    """Whether ``payload`` is one of the issued ids."""
    if among is None:
        return False
    at = int(np.searchsorted(among.ids, payload))
    return at < len(among.ids) and int(among.ids[at]) == payload


def _search_budget(ids: int) -> float:
    """False-trace probability the issued-id search may use when Viterbi's payloads must be issued.

    For an unmarked clip a Viterbi candidate's payload is uniform over 2²⁴ (the keyed whitening
    mask) and its tag matches with probability 2⁻²⁴ independently (another keyed output), so the
    ``CHECKS`` candidates name an issued id with probability at most ``CHECKS`` × 2⁻²⁴ ×
    ids / 2²⁴; the search gets the rest of ``CHECKS`` × 2⁻²⁴ + ``ISSUED_FALSE_POSITIVE``.
    """
    viterbi = CHECKS * 2.0**-TAG_BITS * min(1.0, ids / 2.0**PAYLOAD_BITS)
    return CHECKS * 2.0**-TAG_BITS + ISSUED_FALSE_POSITIVE - viterbi


def _search_issued(
    soft: NDArray[np.float64],
    among: Issued,
    metrics: NDArray[np.float64],
    budget: float = ISSUED_FALSE_POSITIVE,
) -> int | None:
    """The issued id whose codeword matches an alignment beyond chance, or None.

    For an unmarked clip every issued codeword is, over the key, a uniformly random codeword, so
    P(match >= u) <= min_λ E[exp(λ match)] e^(-λu) (computed exactly on the trellis). Up to three
    tests, each allowed its part (``_shares``) of ``ISSUED_FALSE_POSITIVE``: over every alignment
    (union over ids × alignments); over the ``ISSUED_PRESELECTED`` alignments of best Viterbi
    ``metrics`` (a choice made from the soft bits alone, so the union is over ids × those few);
    and at the alignment as served (``ISSUED_AS_SERVED``: fixed in advance, a union over ids).
    """
    best, best_id = _best_issued(soft, among)
    every, preselected, served = _shares()
    groups = [(np.argsort(best)[::-1][:ISSUED_ALIGNMENTS], len(soft), every)]
    if preselected:
        groups.append(
            (np.argsort(metrics)[::-1][:ISSUED_PRESELECTED], ISSUED_PRESELECTED, preselected)
        )
    if served:
        groups.append((np.array([_served_alignment()]), 1, served))
    rows = np.concatenate([g[0] for g in groups])
    tries = np.repeat(
        [math.log(len(among.ids) * n / share) for _, n, share in groups],
        [len(g[0]) for g in groups],
    )
    log_mgf = _convcode.log_mgf(soft[rows], _LAMBDAS)
    log_tail = np.min(log_mgf - _LAMBDAS[None, :] * best[rows, None], axis=1)
    margin = log_tail + tries
    limit = math.log(budget)
    if margin.min() > limit:
        # The Chernoff bound is loose by a polynomial factor (about 2 nats here): the alignments
        # that come close get the tail summed on the trellis (both are upper bounds; the smaller
        # one counts).
        for row in np.argsort(margin)[:ISSUED_REFINED]:
            if margin[row] - limit > ISSUED_REFINE_NATS:
                break
            exact = _convcode.tail(soft[rows[row]], float(best[rows[row]]) - _MATCH_ROUNDING)
            margin[row] = min(margin[row], math.log(max(exact, 1e-300)) + tries[row])
    winner = int(np.argmin(margin))
    if margin[winner] > limit:
        return None
    return int(best_id[rows[winner]])


def _shares() -> tuple[float, float, float]:
    """Parts of ``ISSUED_FALSE_POSITIVE`` for (every alignment, preselected, as served); a test
    switched off gets 0 and the others share its part in proportion."""
    on = (1.0, 1.0 if ISSUED_PRESELECTED else 0.0, 1.0 if ISSUED_AS_SERVED else 0.0)
    parts = [share * flag for share, flag in zip(ISSUED_SHARES, on, strict=True)]
    total = sum(parts)
    every, preselected, served = (part / total for part in parts)
    return every, preselected, served


def _served_alignment() -> int:
    """Row of the soft bits (speed × phase) where a clip sits as it was served: speed 1, phase 0."""
    return SCALES.index(1.0) * BLOCK_FRAMES


def _best_issued(
    soft: NDArray[np.float64], among: Issued
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per alignment: the best match of any issued codeword, and that id."""
    flat = soft.astype(np.float32)
    best = np.full(len(soft), -np.inf)
    best_id = np.zeros(len(soft), dtype=np.int64)
    for start in range(0, len(among.ids), ISSUED_CHUNK):
        match = flat @ among.codewords[start : start + ISSUED_CHUNK].T
        top = np.argmax(match, axis=1)
        value = match[np.arange(len(soft)), top]
        better = value > best
        best[better], best_id[better] = value[better], among.ids[start + top[better]]
    return best, best_id


def _scaled(x: NDArray[np.float64], speed: float) -> NDArray[np.float64]:
    """Detection features of ``x`` with a speed change by ``speed`` undone."""
    return _features(_stft(_rescale(x, speed), hann=True), DETECT_FLOOR_WEIGHT)


def _served_soft(x: NDArray[np.float64], code: _Code) -> NDArray[np.float64]:
    """Soft bits at the alignment as served (speed 1, phase 0) from features weighed by frame
    presence (``_presence``). Only that alignment gets them: a leak that keeps the clip's first
    sample (noise added, a codec, a phone line) keeps its silences where they were; a cut or a
    speed change is read as before (on the tuning split's full requests presence cost nothing
    after noise, but weighing every alignment lost excerpts on the held-out split)."""
    spec = _stft(x, hann=True)
    if DETECT_SERVED_TILES:
        features = _served_features(spec)
    else:
        features = _features(spec, DETECT_FLOOR_WEIGHT, presence=DETECT_PRESENCE)
    return _soft_bits(_tile_sums(features, np.array([0])), code)[0]


def _served_features(spec: NDArray[np.complex128]) -> NDArray[np.float64]:
    """Detection features at the alignment as served (``DETECT_SERVED_TILES``), (frames, BANDS).

    Frames 2k and 2k + 1 make tile k there, so each takes the log of the tile's energy (the two
    frames' band energies summed: a noise-drowned cell's log varies less than each frame's) minus
    its mean over LOCAL_FRAMES frames × ``SERVED_LOCAL_BANDS`` bands (the cell's own gain is a
    smaller part of that mean than of the 5-band one). Weighed as ``_features`` weighs a frame's
    cells (its own energy over its band's floor, and its ``_presence`` if ``DETECT_PRESENCE``).
    """
    energy = _run_sums(np.abs(spec[:, _band()]) ** 2, BINS_PER_BAND, axis=1)
    frames = len(energy)
    paired = np.zeros((frames + frames % TILE_FRAMES, BANDS))
    paired[:frames] = energy
    tiles = paired.reshape(-1, TILE_FRAMES, BANDS).sum(axis=1) / TILE_FRAMES
    db = 10 * np.log10(np.repeat(tiles, TILE_FRAMES, axis=0)[:frames] + _EPS)
    db -= _box_mean(_box_mean(db, LOCAL_FRAMES, 0), SERVED_LOCAL_BANDS, 1)
    floor = _percentile(energy, FLOOR_PERCENTILE)
    db *= energy / (energy + DETECT_FLOOR_WEIGHT * floor + _EPS)
    if DETECT_PRESENCE:
        db *= _presence(energy)
    return db


def _rescale(x: NDArray[np.float64], speed: float) -> NDArray[np.float64]:
    """Undo a speed change by ``speed`` (a clip played ``speed`` times faster is stretched back)."""
    up = round(speed * 200)
    return _resample(x, up, 200)


def mark_to_signal_db(original: NDArray[np.int16], marked: NDArray[np.int16]) -> float:
    """Energy of ``marked - original`` relative to ``original``, in dB (more negative = quieter)."""
    diff = marked.astype(np.float64) - original.astype(np.float64)
    signal = float(np.sum(original.astype(np.float64) ** 2))
    noise = float(np.sum(diff**2))
    if signal == 0.0 or noise == 0.0:
        return -math.inf
    return 10 * math.log10(noise / signal)
