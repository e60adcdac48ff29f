"""The first leak-tracing watermark (kept to trace clips served before the current one).

A keyed 32-bit mark repeated every 1.5 s: spread spectrum in the 300–3400 Hz band, scaled by the
speech's own short-time envelope, with informed embedding. The 32 payload bits and a keyed 32-bit
tag are convolutionally encoded (rate 1/3, constraint length 7). The detector folds the clip modulo
the block length, whitens it, finds the block phase by an FFT search, reads 210 soft bits, decodes
them by Viterbi and accepts a payload only when its keyed tag matches. It does not survive speed
changes or band-passed short clips; see docs/models/watermark.md.
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
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, resample_poly, sosfiltfilt

from overheard.errors import BadRequest

PAYLOAD_BITS = 32
TAG_BITS = 32
"""Bits of the keyed tag that guards every payload (HMAC-SHA256, truncated)."""
CODE_BITS = PAYLOAD_BITS + TAG_BITS
CONV_GENERATORS = (0o133, 0o145, 0o175)
"""Rate-1/3 convolutional code, constraint length 7 (free distance 15), decoded by soft Viterbi."""
CONV_MEMORY = 6
CODED_BITS = (CODE_BITS + CONV_MEMORY) * len(CONV_GENERATORS)
"""Coded bits per block: the 64 code bits plus a zero tail, three coded bits each (210)."""
SAMPLE_RATE_HZ = 16000
BAND_HZ = (300.0, 3400.0)
"""The mark lives here: it survives 8 kHz telephony, MP3 and Opus."""
SLOT_SAMPLES = 114
"""Samples carrying one coded bit within a block (7.1 ms)."""
BLOCK_SAMPLES = SLOT_SAMPLES * CODED_BITS
"""One whole codeword, 23,940 samples (1.5 s at 16 kHz); a 3 s excerpt holds every bit twice."""
ENVELOPE_SAMPLES = 320
"""Window of the short-time envelope the mark follows (20 ms)."""
FLOOR_DB = -30.0
"""Quieter parts than this (relative to the loud 95th percentile) weigh less at detection."""
TARGET = 0.1
"""Mark strength: per-sample chip amplitude relative to the envelope (-20 dB); the one loudness knob."""
CANCEL = 0.5
"""Share of the host's own projection on each slot that embedding cancels (0 = plain spreading)."""
CANDIDATES = 96
"""Block phases decoded per clip (best sync peaks, at least a slot apart); one tag check each."""
WHITEN_HZ = 100.0
"""Detection flattens the folded clip's spectrum, smoothed over this width, before correlating."""

_BAND_ORDER = 4
_FLOOR_ABS = 1.0
"""Normaliser floor in int16 steps, so digital silence never divides by zero."""


@dataclass(frozen=True)
class Trace:
    """What a clip says about where it came from."""

    payload: int | None
    """The 32-bit id, or None when no valid mark is found."""
    score: float
    """Sync peak height in robust standard deviations of the phase search."""
    false_positive_bound: float
    """Probability that an unmarked clip yields a payload under this decision rule."""


@dataclass(frozen=True)
class _Code:
    """Key-derived material: one unit-RMS band-limited chip block and a payload whitening mask."""

    chips: NDArray[np.float64]
    mask: int
    order: NDArray[np.int64]
    """Slot of each code bit (a keyed permutation)."""


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, b"overheard.watermark." + label, hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _code(key: bytes) -> _Code:
    rng = np.random.default_rng(int.from_bytes(_derive(key, b"chips"), "big"))
    spectrum = np.fft.rfft(rng.standard_normal(BLOCK_SAMPLES))
    freqs = np.fft.rfftfreq(BLOCK_SAMPLES, 1 / SAMPLE_RATE_HZ)
    spectrum[(freqs < BAND_HZ[0]) | (freqs > BAND_HZ[1])] = 0
    chips = np.fft.irfft(spectrum, BLOCK_SAMPLES)
    chips /= np.sqrt(np.mean(chips**2))
    mask = int.from_bytes(_derive(key, b"mask")[:4], "big")
    return _Code(chips=chips, mask=mask, order=rng.permutation(CODED_BITS))


def _tag(key: bytes, payload: int) -> int:
    digest = _derive(key, b"tag" + payload.to_bytes(4, "big"))
    return int.from_bytes(digest[: TAG_BITS // 8], "big")


def _parity(x: NDArray[np.int64]) -> NDArray[np.int64]:
    bits = np.unpackbits(x.astype(">u2").view(np.uint8)).reshape(len(x), 16)
    return bits.sum(axis=1) % 2


@lru_cache(maxsize=1)
def _trellis() -> NDArray[np.float64]:
    """±1 outputs of every encoder register value (newest bit lowest): shape (128, generators)."""
    regs = np.arange(2 ** (CONV_MEMORY + 1), dtype=np.int64)
    return np.stack([_parity(regs & g) for g in CONV_GENERATORS], axis=1) * 2.0 - 1.0


def _codeword(key: bytes, payload: int) -> NDArray[np.float64]:
    """±1 per coded bit: whitened payload bits then the keyed tag, convolutionally encoded."""
    word = ((payload ^ _code(key).mask) << TAG_BITS) | _tag(key, payload)
    bits = [(word >> (CODE_BITS - 1 - i)) & 1 for i in range(CODE_BITS)] + [0] * CONV_MEMORY
    outputs = _trellis()
    reg, coded = 0, []
    for bit in bits:
        reg = ((reg << 1) | bit) & (2 ** (CONV_MEMORY + 1) - 1)
        coded.append(outputs[reg])
    return np.concatenate(coded)


def _to_internal(pcm: NDArray[np.int16], sample_rate_hz: int) -> NDArray[np.float64]:
    if pcm.ndim != 1:
        raise BadRequest("watermark needs mono PCM (a 1-D array)", code="not_mono")
    x = pcm.astype(np.float64)
    if sample_rate_hz == SAMPLE_RATE_HZ:
        return x
    g = gcd(SAMPLE_RATE_HZ, sample_rate_hz)
    return resample_poly(x, SAMPLE_RATE_HZ // g, sample_rate_hz // g)


def _envelope(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """RMS of the in-band signal over a sliding 20 ms window, int16 units."""
    if len(x) < 3 * (2 * _BAND_ORDER + 1):
        return np.zeros_like(x)
    sos = butter(_BAND_ORDER, BAND_HZ, btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    band = sosfiltfilt(sos, x)
    power = uniform_filter1d(band**2, ENVELOPE_SAMPLES, mode="nearest")
    return np.sqrt(np.maximum(power, 0.0))


def _normaliser(env: NDArray[np.float64]) -> NDArray[np.float64]:
    """Envelope floored relative to the loud parts: detection weights every sample by 1/this."""
    loud = float(np.percentile(env, 95)) if len(env) else 0.0
    return np.maximum(env, max(loud * 10 ** (FLOOR_DB / 20), _FLOOR_ABS))


def _tiled(chips: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    return np.resize(chips, n)


def embed(
    pcm: NDArray[np.int16], payload: int, key: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> NDArray[np.int16]:
    """Return ``pcm`` (int16 mono) with ``payload`` (32 bits) marked under ``key``; same length."""
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise BadRequest("watermark payload must fit in 32 bits", code="bad_payload")
    x = _to_internal(pcm, sample_rate_hz)
    mark = _mark(x, payload, key)
    if sample_rate_hz != SAMPLE_RATE_HZ:
        g = gcd(SAMPLE_RATE_HZ, sample_rate_hz)
        mark = resample_poly(mark, sample_rate_hz // g, SAMPLE_RATE_HZ // g)[: len(pcm)]
        mark = np.pad(mark, (0, len(pcm) - len(mark)))
    out = np.round(pcm.astype(np.float64) + mark)
    return np.clip(out, -32768, 32767).astype(np.int16)


def _mark(x: NDArray[np.float64], payload: int, key: bytes) -> NDArray[np.float64]:
    """The additive mark for host ``x`` at 16 kHz (float, int16 units)."""
    code = _code(key)
    env = _envelope(x)
    norm = _normaliser(env)
    chips = _tiled(code.chips, len(x))
    slot_bits = np.empty(CODED_BITS)
    slot_bits[code.order] = _codeword(key, payload)
    starts = np.arange(0, len(x), SLOT_SAMPLES)
    bit_of_slot = slot_bits[(starts % BLOCK_SAMPLES) // SLOT_SAMPLES % CODED_BITS]
    # Informed embedding: per slot instance, count half of what the host already contributes
    # towards the wanted correlation, and add only the chip still missing.
    host = np.add.reduceat(x / norm * chips, starts)
    gain = np.add.reduceat(env / norm * chips**2, starts)
    energy = np.add.reduceat(chips**2, starts)
    want = np.maximum(0.0, TARGET * energy - CANCEL * bit_of_slot * host)
    coef = np.divide(bit_of_slot * want, gain, out=np.zeros_like(want), where=gain > 1e-9)
    per_sample = np.repeat(coef, np.diff(np.append(starts, len(x))))
    return env * per_sample * chips


def detect(pcm: NDArray[np.int16], key: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Trace:
    """Find the payload marked under ``key`` in ``pcm`` (any excerpt of >= ~3 s), or None."""
    x = _to_internal(pcm, sample_rate_hz)
    checks = CANDIDATES
    bound = checks * 2.0**-TAG_BITS
    if len(x) < SLOT_SAMPLES or not np.any(x):
        return Trace(payload=None, score=0.0, false_positive_bound=bound)
    folded = _fold(x / _normaliser(_envelope(x)))
    corr = _slot_correlations(folded, _code(key).chips)
    sync = np.sum(corr**2, axis=0)
    centre = float(np.median(sync))
    spread = 1.4826 * float(np.median(np.abs(sync - centre))) or 1.0
    scores = (sync - centre) / spread
    best_score = float(scores.max())
    for phase in _peaks(scores, CANDIDATES):
        payload = _decode(corr[:, phase], key)
        if payload is not None:
            return Trace(payload=payload, score=float(scores[phase]), false_positive_bound=bound)
    return Trace(payload=None, score=best_score, false_positive_bound=bound)


def _fold(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum the clip onto one block period, so every repetition of the mark adds up."""
    padded = np.pad(x, (0, -len(x) % BLOCK_SAMPLES))
    return padded.reshape(-1, BLOCK_SAMPLES).sum(axis=0)


def _slot_correlations(
    folded: NDArray[np.float64], chips: NDArray[np.float64]
) -> NDArray[np.float64]:
    """corr[s, p]: correlation of slot s's chips with the folded clip at block phase p."""
    spectrum = np.fft.rfft(folded)
    if WHITEN_HZ > 0:
        # Matched filter for coloured host: flatten the folded spectrum before correlating.
        width = max(1, round(WHITEN_HZ * BLOCK_SAMPLES / SAMPLE_RATE_HZ))
        power = uniform_filter1d(np.abs(spectrum) ** 2, width, mode="nearest")
        spectrum = spectrum / np.sqrt(np.maximum(power, 1e-12 * float(power.max()) + 1e-30))
    corr = np.empty((CODED_BITS, BLOCK_SAMPLES))
    for slot in range(CODED_BITS):
        template = np.zeros(BLOCK_SAMPLES)
        span = slice(slot * SLOT_SAMPLES, (slot + 1) * SLOT_SAMPLES)
        template[span] = chips[span]
        # Phase p means clip sample 0 sat at block sample p: correlate folded[m] with chips[m + p].
        corr[slot] = np.fft.irfft(np.conj(spectrum) * np.fft.rfft(template), BLOCK_SAMPLES)
    return corr


def _peaks(scores: NDArray[np.float64], count: int) -> list[int]:
    """Indices of the ``count`` highest scores at least one slot apart (circularly)."""
    blocked = np.zeros(len(scores), dtype=bool)
    chosen: list[int] = []
    for idx in np.argsort(scores)[::-1]:
        if blocked[idx]:
            continue
        chosen.append(int(idx))
        if len(chosen) == count:
            break
        blocked[np.arange(idx - SLOT_SAMPLES + 1, idx + SLOT_SAMPLES) % len(scores)] = True
    return chosen


def _decode(slot_soft: NDArray[np.float64], key: bytes) -> int | None:
    """Soft bits to payload: Viterbi over the convolutional code, then the keyed tag check."""
    code = _code(key)
    rate = len(CONV_GENERATORS)
    soft = slot_soft[code.order].reshape(-1, rate)
    soft = soft / (float(np.mean(np.abs(soft))) or 1.0)
    outputs = _trellis()
    states = 2**CONV_MEMORY
    nxt = np.arange(states)
    # Register of the step into state n from predecessor (n >> 1) | (h << 5) is n + 64 h.
    preds = np.stack([(nxt >> 1), (nxt >> 1) | (states >> 1)])
    metric = np.full(states, -np.inf)
    metric[0] = 0.0
    choices = np.empty((len(soft), states), dtype=np.int64)
    for step, received in enumerate(soft):
        branch = outputs @ received
        cand = metric[preds] + np.stack([branch[nxt], branch[nxt + states]])
        choices[step] = np.argmax(cand, axis=0)
        metric = cand[choices[step], nxt]
    state, bits = 0, []
    for step in range(len(soft) - 1, -1, -1):
        bits.append(state & 1)
        state = int(preds[choices[step, state], state])
    word = int("".join(str(b) for b in reversed(bits[CONV_MEMORY:])), 2)
    payload = (word >> TAG_BITS) ^ code.mask
    if word & (2**TAG_BITS - 1) == _tag(key, payload):
        return payload
    return None


def mark_to_signal_db(original: NDArray[np.int16], marked: NDArray[np.int16]) -> float:
    """Energy of ``marked - original`` relative to ``original``, in dB (more negative = quieter)."""
    diff = marked.astype(np.float64) - original.astype(np.float64)
    signal = float(np.sum(original.astype(np.float64) ** 2))
    noise = float(np.sum(diff**2))
    if signal == 0.0 or noise == 0.0:
        return -math.inf
    return 10 * math.log10(noise / signal)
