"""Working memory lent to the marking passes: reused, aligned, bounded."""

from __future__ import annotations

import threading
import time

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


def test_a_kept_block_is_zeroed_and_let_go_at_its_age() -> None:
    """A block holds what the last serves wrote into it: it is kept no longer than its age limit,
    counted from when it was first given back, however often it is lent again meanwhile."""
    now = [0.0]
    scratch = Scratch(keep_bytes=1 << 20, max_age_s=900.0, clock=lambda: now[0])
    need = block_bytes(((512,), np.float64))
    with scratch.borrowed(need) as block:
        written = block.array((512,), np.float64)
        written[:] = 7.0
    now[0] = 899.0
    with scratch.borrowed(need) as block:  # lent again within the limit: the same block
        assert np.shares_memory(block.array((512,), np.float64), written)
    now[0] = 900.0
    with scratch.borrowed(need) as block:  # past it: a fresh block, the old one zeroed
        assert not np.shares_memory(block.array((512,), np.float64), written)
    assert not written.any()


def test_an_idle_process_zeroes_what_it_kept_once_it_is_due() -> None:
    scratch = Scratch(keep_bytes=1 << 20, max_age_s=0.3)
    with scratch.borrowed(block_bytes(((512,), np.float64))) as block:
        written = block.array((512,), np.float64)
        written[:] = 7.0
    deadline = time.monotonic() + 10
    while scratch.kept_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scratch.kept_bytes() == 0 and not written.any()


def test_clear_zeroes_every_kept_block() -> None:
    scratch = Scratch(keep_bytes=1 << 20)
    with scratch.borrowed(block_bytes(((512,), np.float64))) as block:
        written = block.array((512,), np.float64)
        written[:] = 7.0
    scratch.clear()
    assert scratch.kept_bytes() == 0 and not written.any()
