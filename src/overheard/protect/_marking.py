"""The serving path's watermarking: ``watermark.embed``, with each clip's id-free analysis kept.

Every serve is marked afresh with its own id (``watermark.embed``). Part of that work does not
depend on the id: the clip at 16 kHz as floats, its spectrum, and the first measurement of its tile
contrasts (the first of the ``PASSES`` re-measurements looks at the unmarked clip). ``embed`` here
keeps that part per stored rendition in a small in-process LRU bounded in bytes, so a replay,
a second pass or an adjudication of the same clip pays only the id-dependent part. The output is
byte for byte what ``watermark.embed`` returns (tests/protect/test_marking.py holds the two
together); for a mark version this copy does not mirror, it simply calls ``watermark.embed``.

The cached arrays are derived from disguised audio, so they live only in memory, are keyed by the
rendition's blob key (a fresh nonce per rendition: a remade or removed rendition is never found
again) and are dropped when the recording is deleted or flagged in this process. Another web
process does not hear of the deletion: there an analysis lives until it is evicted or, at the
latest, ``MAX_AGE_S`` after it was made (checked whenever the cache is used), and it can never be
served again, since serving needs a live lease of a recording that exists.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import watermark as wm

MIRRORED_VERSION = 3
"""The mark version whose embedding this module reproduces (others go to ``watermark.embed``)."""
CACHE_BYTES = 48 * 1024 * 1024
"""Most bytes of analyses kept per process (a 4 s clip takes about 1.5 MB)."""
MAX_AGE_S = 900.0
"""Longest an analysis is kept (replays, second passes and adjudications come within minutes)."""

ClipRef = tuple[str, float, float]
"""A served cut of a stored rendition: (blob key, start s, end s)."""


@dataclass(frozen=True)
class Analysis:
    """What embedding needs from a clip before it knows the id."""

    x: NDArray[np.float64]
    """The clip at 16 kHz, float (int16 units)."""
    spec: NDArray[np.complex128]
    """Its square-root-Hann spectrum (``watermark._stft``)."""
    tile_of_frame: NDArray[np.int64]
    frames_per_tile: NDArray[np.int64]
    first_tiles: NDArray[np.float64]
    """Per-frame tile contrasts of the unmarked clip (the first pass's measurement)."""

    @property
    def nbytes(self) -> int:
        """Memory the arrays hold."""
        arrays = (self.x, self.spec, self.tile_of_frame, self.frames_per_tile, self.first_tiles)
        return sum(a.nbytes for a in arrays)


def analyse(pcm: NDArray[np.int16]) -> Analysis | None:
    """The id-free part of marking ``pcm`` (16 kHz); None when ``watermark.embed`` leaves it as is."""
    x = wm._to_internal(pcm, wm.SAMPLE_RATE_HZ)
    if len(x) < wm.FRAME_SAMPLES or not np.any(x):
        return None
    spec = wm._stft(x)
    tile_of_frame = (np.arange(len(spec)) // wm.TILE_FRAMES) % wm.BLOCK_TILES
    frames_per_tile = np.maximum(np.bincount(tile_of_frame, minlength=wm.BLOCK_TILES), 1)
    features = wm._features(wm._stft(x, hann=True), wm.EMBED_FLOOR_WEIGHT)
    tiles = wm._tile_sums(features, np.zeros(1, dtype=np.int64))[0]
    return Analysis(x, spec, tile_of_frame, frames_per_tile, tiles / frames_per_tile[:, None])


class AnalysisCache:
    """A thread-safe LRU of analyses, bounded in bytes and in age."""

    def __init__(
        self,
        max_bytes: int = CACHE_BYTES,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes, self.max_age_s, self._clock = max_bytes, max_age_s, clock
        self._items: OrderedDict[ClipRef, tuple[Analysis, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, ref: ClipRef) -> Analysis | None:
        """The kept analysis of ``ref``, or None."""
        with self._lock:
            self._expire()
            found = self._items.get(ref)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(ref)
            self.hits += 1
            return found[0]

    def put(self, ref: ClipRef, analysis: Analysis) -> None:
        """Keep ``analysis``; the least recently used go while over ``max_bytes``."""
        if analysis.nbytes > self.max_bytes:
            return
        with self._lock:
            self._expire()
            old = self._items.pop(ref, None)
            self._bytes -= old[0].nbytes if old is not None else 0
            self._items[ref] = (analysis, self._clock())
            self._bytes += analysis.nbytes
            while self._bytes > self.max_bytes:
                _, (dropped, _made) = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def _expire(self) -> None:
        """Drop analyses older than ``max_age_s`` (the caller holds the lock)."""
        oldest = self._clock() - self.max_age_s
        for ref in [r for r, (_, made) in self._items.items() if made < oldest]:
            self._bytes -= self._items.pop(ref)[0].nbytes

    def forget(self, recording_ids: list[str]) -> None:
        """Drop the analyses of these recordings' renditions (blob keys name the recording)."""
        parts = {f"/{rid}/" for rid in recording_ids}
        with self._lock:
            for ref in [r for r in self._items if any(p in r[0] for p in parts)]:
                self._bytes -= self._items.pop(ref)[0].nbytes

    def __len__(self) -> int:
        return len(self._items)


CACHE = AnalysisCache()
"""This process's analyses."""


def embed(
    pcm: NDArray[np.int16], payload: int, key: bytes, ref: ClipRef, cache: AnalysisCache = CACHE
) -> NDArray[np.int16]:
    """``watermark.embed(pcm, payload, key)`` (16 kHz), reusing the analysis kept for ``ref``."""
    if wm.VERSION != MIRRORED_VERSION or not 0 <= payload < 2**wm.PAYLOAD_BITS or pcm.ndim != 1:
        return wm.embed(pcm, payload, key)
    analysis = cache.get(ref)
    if analysis is None or len(analysis.x) != len(pcm):
        analysis = analyse(pcm)
        if analysis is None:
            return wm.embed(pcm, payload, key)
        cache.put(ref, analysis)
    marked = _mark(analysis, payload, key)
    mark = marked - analysis.x
    out = np.round(pcm.astype(np.float64) + mark)
    return np.clip(out, -32768, 32767).astype(np.int16)


def _mark(a: Analysis, payload: int, key: bytes) -> NDArray[np.float64]:
    """``watermark._mark`` with the first pass's measurement taken from ``a``."""
    code = wm._code(key)
    wanted = wm._codeword(key, payload)
    tiles_per_bit = np.bincount(code.bit_of_tile.ravel(), minlength=wm.CODED_BITS)
    gain_db = np.zeros((wm.BLOCK_TILES, wm.BANDS))
    marked = a.x
    for step_no in range(wm.PASSES):
        if step_no == 0:
            mean_tiles = a.first_tiles
        else:
            features = wm._features(wm._stft(marked, hann=True), wm.EMBED_FLOOR_WEIGHT)
            tiles = wm._tile_sums(features, np.zeros(1, dtype=np.int64))[0]
            mean_tiles = tiles / a.frames_per_tile[:, None]
        soft = wm._soft_bits(mean_tiles[None], code)[0]
        shortfall = np.maximum(0.0, wm.MARGIN_DB * tiles_per_bit - wanted * soft) / tiles_per_bit
        step = (wanted * shortfall)[code.bit_of_tile] * code.signs
        gain_db = np.clip(gain_db + step, -wm.MAX_GAIN_DB, wm.MAX_GAIN_DB)
        marked = wm._istft(a.spec * wm._gain_map(gain_db[a.tile_of_frame]), len(a.x))
    return marked
