"""Working memory that the per-serve signal processing borrows and gives back.

Every serve marks its clip afresh, and the marking passes need a few megabytes of spectra and frames
(about 3.6 MB for a 4-second clip). Freshly allocated arrays that large are new pages to the kernel
on every serve: the page faults and their zeroing cost a fifth of the marking's CPU. A ``Scratch``
keeps a few such blocks between serves (bounded in bytes) and lends them out, one borrower at a time;
what it keeps is only ever overwritten before it is read, and holds derived audio no longer than the
process lives (the same as the heap it replaces).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

KEEP_BYTES = 16 * 1024 * 1024
"""Most bytes of blocks kept between borrowings (a larger block is let go after use)."""
ALIGN_BYTES = 64
"""Every array carved from a block starts on this boundary (a cache line)."""


class Scratch:
    """A thread-safe store of reusable memory blocks, bounded in bytes."""

    def __init__(self, keep_bytes: int = KEEP_BYTES) -> None:
        self.keep_bytes = keep_bytes
        self._free: list[NDArray[np.uint8]] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrowed(self, nbytes: int) -> Iterator[Block]:
        """A block of at least ``nbytes`` for the ``with`` body alone (contents undefined)."""
        memory = self._take(nbytes)
        try:
            yield Block(memory)
        finally:
            self._give(memory)

    def _take(self, nbytes: int) -> NDArray[np.uint8]:
        with self._lock:
            for i, memory in enumerate(self._free):
                if len(memory) >= nbytes:
                    return self._free.pop(i)
        return np.empty(nbytes, dtype=np.uint8)

    def _give(self, memory: NDArray[np.uint8]) -> None:
        if len(memory) > self.keep_bytes:
            return
        with self._lock:
            self._free.append(memory)
            self._free.sort(key=len)
            while sum(len(m) for m in self._free) > self.keep_bytes:
                self._free.pop(0)  # the smallest go first

    def kept_bytes(self) -> int:
        """Bytes held between borrowings."""
        with self._lock:
            return sum(len(m) for m in self._free)


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
