"""The serving path's watermarking: ``watermark.embed``, with each clip's id-free analysis kept.

Every serve is marked afresh with its own id (``watermark.embed``). Part of that work does not
depend on the id: the clip at 16 kHz as floats, its spectrum, and the first measurement of its tile
contrasts (the first of the ``PASSES`` re-measurements looks at the unmarked clip):
``watermark.analyse``. ``embed`` here keeps that part per stored rendition in a small in-process
LRU bounded in bytes, so a replay, a second pass or an adjudication of the same clip pays only the
id-dependent part (``watermark.mark_analysed``). The output is byte for byte what
``watermark.embed`` returns (tests/protect/test_marking.py holds the two together).

The cached arrays are derived from disguised audio, so they live only in memory, are keyed by the
rendition's blob key (a fresh nonce per rendition: a remade or removed rendition is never found
again) and are dropped when the recording is deleted or flagged in this process: when the removal's
transaction runs its hooks and again once it has committed. A serve analyses its clip after its own
transaction committed, so a removal may commit in between. The cache counts its drops: a serve
takes the count (``AnalysisCache.marker``) before its transaction reads the rendition, and keeps
its analysis only if no drop since then named the recording (checked under the lock the drops
take). A removal that committed before the serve's transaction began left no rendition to read;
one that commits later drops after the marker was taken, so either its drop names the recording
before the keep (nothing is kept) or it comes after the keep and removes it
(``tests/privacy/test_copy_races.py``). Another web
process does not hear of the deletion: there an analysis lives until it is evicted or, at the
latest, ``MAX_AGE_S`` after it was made (a timer sweeps the cache even when the process serves
nothing more), and it can never be served again, since serving needs a live lease of a recording
that exists.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..expiry import ExpiryTimer
from . import watermark as wm

CACHE_BYTES = 48 * 1024 * 1024
"""Most bytes of analyses kept per process (a 4 s clip takes about 1.5 MB)."""
MAX_AGE_S = 900.0
"""Longest an analysis is kept (replays, second passes and adjudications come within minutes)."""
DROPS_KEPT = 1024
"""Drops remembered for serves in flight; a serve that began before the oldest keeps nothing."""

ClipRef = tuple[str, float, float]
"""A served cut of a stored rendition: (blob key, start s, end s)."""


Analysis = wm.Analysis


def analyse(
    pcm: NDArray[np.int16], first_tiles: NDArray[np.float64] | None = None
) -> Analysis | None:
    """The id-free part of marking ``pcm`` (16 kHz); None when ``watermark.embed`` leaves it as is.
    ``first_tiles``: ``first_measurement(pcm)``, kept with the clip (not measured again)."""
    x = wm._to_internal(pcm, wm.SAMPLE_RATE_HZ)
    return wm.analyse(x, first_tiles) if wm.markable(x) else None


def first_measurement(pcm: NDArray[np.int16]) -> NDArray[np.float64] | None:
    """The part of ``analyse(pcm)`` worth keeping with a stored clip (the tile contrasts of the
    unmarked clip, 13.7 kB; the rest costs as much to read back as to make); None when
    ``watermark.embed`` leaves the clip as is."""
    x = wm._to_internal(pcm, wm.SAMPLE_RATE_HZ)
    return wm.first_measurement(x) if wm.markable(x) else None


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
        self._expiry = ExpiryTimer(self._sweep, name="overheard-analysis-expiry")
        self._drops = 0
        self._dropped: deque[tuple[int, frozenset[str]]] = deque(maxlen=DROPS_KEPT)
        self.hits = 0
        self.misses = 0

    def marker(self) -> int:
        """The count of drops so far, for ``put(..., unless_dropped_since=)``."""
        with self._lock:
            return self._drops

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

    def put(
        self, ref: ClipRef, analysis: Analysis, unless_dropped_since: int | None = None
    ) -> None:
        """Keep ``analysis``; the least recently used go while over ``max_bytes``. With
        ``unless_dropped_since`` (a ``marker``), nothing is kept if a drop since then named the
        recording of ``ref`` (or is no longer remembered)."""
        if analysis.nbytes > self.max_bytes:
            return
        with self._lock:
            if unless_dropped_since is not None and self._dropped_since(ref, unless_dropped_since):
                return
            self._expire()
            old = self._items.pop(ref, None)
            self._bytes -= old[0].nbytes if old is not None else 0
            self._items[ref] = (analysis, self._clock())
            self._bytes += analysis.nbytes
            while self._bytes > self.max_bytes:
                _, (dropped, _made) = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
        self._expiry.arm(self.max_age_s)

    def _expire(self) -> None:
        """Drop analyses older than ``max_age_s`` (the caller holds the lock)."""
        oldest = self._clock() - self.max_age_s
        for ref in [r for r, (_, made) in self._items.items() if made < oldest]:
            self._bytes -= self._items.pop(ref)[0].nbytes

    def _sweep(self) -> float | None:
        """The expiry timer's sweep, for a process that stopped serving: seconds until the oldest
        analysis left is due, None when none is."""
        with self._lock:
            self._expire()
            if not self._items:
                return None
            made = min(made for _, made in self._items.values())
            return made + self.max_age_s - self._clock()

    def discard(self, ref: ClipRef) -> None:
        """Drop the analysis kept for ``ref``, if any."""
        with self._lock:
            found = self._items.pop(ref, None)
            self._bytes -= found[0].nbytes if found is not None else 0

    def forget(self, recording_ids: list[str]) -> None:
        """Drop the analyses of these recordings' renditions (blob keys name the recording)."""
        parts = frozenset(f"/{rid}/" for rid in recording_ids)
        with self._lock:
            self._drops += 1
            self._dropped.append((self._drops, parts))
            for ref in [r for r in self._items if any(p in r[0] for p in parts)]:
                self._bytes -= self._items.pop(ref)[0].nbytes

    def _dropped_since(self, ref: ClipRef, marker: int) -> bool:
        """Whether a drop after ``marker`` named ``ref``'s recording (the caller holds the lock)."""
        if marker == self._drops:
            return False
        if not self._dropped or self._dropped[0][0] > marker + 1:
            return True  # some drops since the marker are no longer remembered
        return any(n > marker and any(p in ref[0] for p in parts) for n, parts in self._dropped)

    def __len__(self) -> int:
        return len(self._items)


CACHE = AnalysisCache()
"""This process's analyses."""


def forget(recording_ids: list[str], cache: AnalysisCache = CACHE) -> None:
    """Drop what this process keeps of these recordings' renditions: their analyses, and the
    marking passes' working memory (``watermark.SCRATCH``, which holds the clips served last)."""
    cache.forget(recording_ids)
    wm.SCRATCH.clear()


def embed(
    pcm: NDArray[np.int16],
    payload: int,
    key: bytes,
    ref: ClipRef,
    cache: AnalysisCache = CACHE,
    read_since: int | None = None,
    first_tiles: NDArray[np.float64] | None = None,
) -> NDArray[np.int16]:
    """``watermark.embed(pcm, payload, key)`` (16 kHz), reusing the analysis kept for ``ref``;
    a fresh analysis is kept unless the recording was dropped from ``cache`` since ``read_since``
    (its ``marker`` taken before the rendition was read). ``first_tiles``: ``first_measurement``
    of exactly ``pcm``, made before, which a fresh analysis takes instead of measuring."""
    if not 0 <= payload < 2**wm.PAYLOAD_BITS or pcm.ndim != 1:
        return wm.embed(pcm, payload, key)
    analysis = cache.get(ref)
    if analysis is None or len(analysis.x) != len(pcm):
        analysis = analyse(pcm, first_tiles)
        if analysis is None:
            return wm.embed(pcm, payload, key)
        cache.put(ref, analysis, unless_dropped_since=read_since)
    mark = wm.mark_analysed(analysis, payload, key)
    mark -= analysis.x
    return wm.with_mark(pcm, mark)
