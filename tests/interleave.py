"""Run another operation between a job's writes and its commit, on its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

SQLITE_WAIT_S = 0.5
"""SQLite cannot tell that a thread waits for the write lock: give it this long to get there."""
BLOCKED_WAIT_S = 20.0
"""Longest wait for the other thread to finish or block on PostgreSQL, seconds."""


def _blocked_on_lock(platform) -> bool:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        waiting = s.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def _until_done_or_blocked(platform, thread: threading.Thread) -> None:  # type: ignore[no-untyped-def]
    if platform.engine.dialect.name != "postgresql":
        thread.join(SQLITE_WAIT_S)
        return
    deadline = time.monotonic() + BLOCKED_WAIT_S
    while thread.is_alive() and not _blocked_on_lock(platform):
        assert time.monotonic() < deadline, "the other operation neither finished nor waited"
        time.sleep(0.01)


@contextmanager
def interleaved(
    platform,  # type: ignore[no-untyped-def]
    other: Callable[[], Any],
    *,
    at_commit: int,
    finish_after: bool = False,
) -> Iterator[list[Any]]:
    """Run ``other`` in a thread just before this thread's ``at_commit``-th commit (1 = the first)
    inside the block; yields a list that holds ``other``'s result after the block. With
    ``finish_after``, this thread goes on after that commit only once ``other`` has finished."""
    me, seen, result, errors = threading.get_ident(), [0], [], []

    def run() -> None:
        try:
            result.append(other())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)

    def before_commit(session: Session) -> None:
        if threading.get_ident() != me:
            return
        seen[0] += 1
        if seen[0] == at_commit:
            thread.start()
            _until_done_or_blocked(platform, thread)

    def after_commit(session: Session) -> None:
        if threading.get_ident() == me and seen[0] == at_commit and thread.ident is not None:
            thread.join(BLOCKED_WAIT_S)

    event.listen(platform.sessions, "before_commit", before_commit)
    if finish_after:
        event.listen(platform.sessions, "after_commit", after_commit)
    try:
        yield result
    finally:
        event.remove(platform.sessions, "before_commit", before_commit)
        if finish_after:
            event.remove(platform.sessions, "after_commit", after_commit)
        if thread.ident is not None:
            thread.join(BLOCKED_WAIT_S)
    assert seen[0] >= at_commit, "the job did not reach that commit"
    assert not thread.is_alive()
    if errors:
        raise errors[0]
