"""Working memory that the per-serve signal processing borrows and gives back.

Every serve marks its clip afresh, and the marking passes need a few megabytes of spectra and frames
(about 3.6 MB for a 4-second clip). Freshly allocated arrays that large are new pages to the kernel
on every serve: the page faults and their zeroing cost a fifth of the marking's CPU. A ``Scratch``
keeps a few such blocks between serves (bounded in bytes) and lends them out, one borrower at a time;
what it keeps is only ever overwritten before it is read.

A kept block holds what the last serves left in it: the disguised clip as marked, its frames and
spectra. So a block is zeroed and let go once ``max_age_s`` have passed since it was first given back
(a timer does it in a process that has gone idle, as the analyses' does), and ``clear`` zeroes every
kept block at once (a removal of a clip from review calls it). Freed blocks are zeroed first: the
allocator hands freed memory out again as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..expiry import ExpiryTimer

KEEP_BYTES = 16 * 1024 * 1024
"""Most bytes of blocks kept between borrowings (a larger block is let go after use)."""
ALIGN_BYTES = 64
"""Every array carved from a block starts on this boundary (a cache line)."""
MAX_AGE_S = 900.0
"""Longest a kept block holds what was written into it, seconds (the watermark analyses' limit)."""

Kept = tuple[NDArray[np.uint8], float]
"""A kept block and when it was first given back since it was last zeroed (clock seconds)."""


class Scratch:
    """A thread-safe store of reusable memory blocks, bounded in bytes and in age."""

    def __init__(
        self,
        keep_bytes: int = KEEP_BYTES,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep_bytes, self.max_age_s, self._clock = keep_bytes, max_age_s, clock
        self._free: list[Kept] = []
        self._lock = threading.Lock()
        self._expiry = ExpiryTimer(self._sweep, name="overheard-scratch-expiry")

    @contextmanager
    def borrowed(self, nbytes: int) -> Iterator[Block]:
        """A block of at least ``nbytes`` for the ``with`` body alone (contents undefined)."""
        memory, since = self._take(nbytes)
        try:
            yield Block(memory)
        finally:
            self._give(memory, since)

    def _take(self, nbytes: int) -> tuple[NDArray[np.uint8], float | None]:
        with self._lock:
            self._expire()
            for i, (memory, since) in enumerate(self._free):
                if len(memory) >= nbytes:
                    del self._free[i]
                    return memory, since
        return np.empty(nbytes, dtype=np.uint8), None

    def _give(self, memory: NDArray[np.uint8], since: float | None) -> None:
        if len(memory) > self.keep_bytes:
            memory.fill(0)
            return
        with self._lock:
            self._free.append((memory, self._clock() if since is None else since))
            self._free.sort(key=lambda kept: len(kept[0]))
            while sum(len(m) for m, _ in self._free) > self.keep_bytes:
                self._free.pop(0)[0].fill(0)  # the smallest go first
        self._expiry.arm(self.max_age_s)

    def _expire(self) -> None:
        """Zero and let go the blocks kept longer than ``max_age_s`` (the caller holds the lock)."""
        oldest = self._clock() - self.max_age_s
        due = [memory for memory, since in self._free if since <= oldest]
        for memory in due:
            memory.fill(0)
        self._free = [kept for kept in self._free if kept[1] > oldest]

    def _sweep(self) -> float | None:
        """The expiry timer's sweep: seconds until the next block is due, None when none is kept."""
        with self._lock:
            self._expire()
            if not self._free:
                return None
            return min(since for _, since in self._free) + self.max_age_s - self._clock()

    def clear(self) -> None:
        """Zero and let go every kept block (a block lent out now is left to its borrower)."""
        with self._lock:
            for memory, _ in self._free:
                memory.fill(0)
            self._free = []

    def kept_bytes(self) -> int:
        """Bytes held between borrowings."""
        with self._lock:
            return sum(len(m) for m, _ in self._free)


class Block:
    """One borrowed block, carved into arrays from its start."""

    def __init__(self, memory: NDArray[np.uint8]) -> None:
        self._memory = memory
        self._used = 0

    def array(self, shape: tuple[int, ...], dtype: DTypeLike) -> NDArray[Any]:
        """An uninitialised C-contiguous array of ``shape`` in the next free part of the block."""
        itemsize = np.dtype(dtype).itemsize
        nbytes = itemsize * int(np.prod(shape))
        start = self._used + (-(self._memory.ctypes.data + self._used)) % ALIGN_BYTES
        if start + nbytes > len(self._memory):
            raise ValueError("the block is too small for this array")
        self._used = start + nbytes
        return self._memory[start : start + nbytes].view(dtype).reshape(shape)


def block_bytes(*arrays: tuple[tuple[int, ...], DTypeLike]) -> int:
    """Bytes a block needs to hold these (shape, dtype) arrays, each aligned."""
    return sum(np.dtype(d).itemsize * int(np.prod(s)) + ALIGN_BYTES for s, d in arrays)
