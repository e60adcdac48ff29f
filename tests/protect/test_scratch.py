"""Working memory lent to the marking passes: reused, aligned, bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from overheard.protect._scratch import ALIGN_BYTES, Scratch, block_bytes


def test_a_block_given_back_is_lent_again_and_carves_aligned_arrays() -> None:
    scratch = Scratch(keep_bytes=1 << 20)
    need = block_bytes(((3, 5), np.float64), ((7,), np.complex128))
    with scratch.borrowed(need) as block:
        a = block.array((3, 5), np.float64)
        b = block.array((7,), np.complex128)
        a[:] = 1.0
        b[:] = 2.0
        first = a.ctypes.data
    assert a.flags.c_contiguous and b.flags.c_contiguous
    assert a.ctypes.data % ALIGN_BYTES == 0 and b.ctypes.data % ALIGN_BYTES == 0
    assert not np.shares_memory(a, b) and np.all(a == 1.0)
    with scratch.borrowed(need) as block:
        assert block.array((3, 5), np.float64).ctypes.data == first
    with scratch.borrowed(need) as block, pytest.raises(ValueError):
        block.array((need,), np.float64)


def test_two_borrowers_never_share_a_block() -> None:
    scratch = Scratch(keep_bytes=1 << 20)
    need = block_bytes(((512,), np.float64))
    with scratch.borrowed(need) as one, scratch.borrowed(need) as two:
        assert not np.shares_memory(one.array((512,), np.float64), two.array((512,), np.float64))
    assert scratch.kept_bytes() >= 2 * 4096


def test_what_is_kept_stays_within_its_bound() -> None:
    scratch = Scratch(keep_bytes=10_000)
    with scratch.borrowed(20_000):
        pass
    assert scratch.kept_bytes() == 0  # larger than the bound: let go
    done = threading.Barrier(4)

    def borrow() -> None:
        with scratch.borrowed(4_000):
            done.wait()

    threads = [threading.Thread(target=borrow) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0 < scratch.kept_bytes() <= 10_000
