"""Group commit: concurrent units of work share one database transaction and its one fsync.

A caller hands in a function over a session and waits on its future. One writer thread takes every
unit pending at that moment, runs them all, flushes once (one INSERT per table for the batch) and
commits them together: N uploads arriving while the previous commit is syncing cost one commit (and
one WAL fsync on SQLite) instead of N. There is no added waiting window: a lone unit commits at
once; batches form only while a commit is under way, which is exactly when they save time. A unit
handed to :meth:`GroupCommitter.run` while nothing is committing is committed by its caller's own
thread, so an upload that finds the database idle makes no round trip through the writer thread.

Isolation between units: units may leave their rows unflushed. If any unit (or the shared flush)
fails, the whole attempt is rolled back and the batch is run again with each unit in its own
SAVEPOINT: a failing unit rolls back only its savepoint and gets the error; the others go on. If a
shared commit itself fails, each unit of that batch is retried alone in its own transaction, so one
bad unit can never fail or lose the rest. A future resolves only after the transaction holding its
unit has committed: an acknowledgement is always durable. Units must therefore be safe to run again
(they only add rows; they do not touch anything outside the session), and since a commit reported
as failed may in fact have gone through, a unit run again must notice rows of its own that are
already stored (see ``recordings.ingest._Store``).

Units may also hand rows to :func:`insert_later` instead of adding ORM objects: the committer
writes them after the ORM flush, one executemany per prebuilt INSERT for the whole batch (in the
savepoint path, inside the unit's own savepoint), so a batch of uploads costs no ORM unit of work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.orm import Session, sessionmaker

from .audit import HEAD_INFO
from .db import transaction

log = logging.getLogger(__name__)

MAX_BATCH_UNITS = 64
"""Most units one transaction takes; the rest wait for the next one."""

Unit = Callable[[Session], Any]
"""Work over a session; its return value becomes the future's result."""
_DEFERRED = "overheard.groupcommit.deferred"
"""``Session.info`` key: the rows units of this transaction left to :func:`insert_later`."""


def insert_later(session: Session, statement: Insert, row: dict[str, Any]) -> None:
    """Have the committer insert ``row`` with the prebuilt Core ``statement`` when it flushes
    the unit (rows of one statement go in one executemany; statements in the order first used).

    Only for a unit a :class:`GroupCommitter` runs: outside one there is no flush to write it.
    Every row of a statement must name the same columns.
    """
    deferred = session.info.get(_DEFERRED)
    if deferred is None:
        raise RuntimeError("insert_later is for units run by a GroupCommitter")
    deferred.setdefault(statement, []).append(row)


def _begin(session: Session) -> None:
    session.info[_DEFERRED] = {}


def _flush(session: Session) -> None:
    """The ORM flush, then the rows left to :func:`insert_later`."""
    session.flush()
    deferred: dict[Insert, list[dict[str, Any]]] = session.info[_DEFERRED]
    if deferred:
        connection = session.connection()
        for statement, rows in deferred.items():
            connection.execute(statement, rows)
        deferred.clear()


@dataclass
class _Pending:
    unit: Unit
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    """A writer thread that commits the units pending at each moment in one transaction."""

    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = MAX_BATCH_UNITS) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False
        """A commit is under way (in the writer or in a caller of :meth:`run`)."""
        self.commits = 0
        """Transactions committed so far (for tests and benchmarks)."""

    def run(self, unit: Unit) -> Any:
        """Run ``unit`` in a shared transaction; returns its result once that has committed.

        With nothing committing or queued, the unit commits here, in the caller's thread; units
        arriving meanwhile queue for the writer, which takes them together once this one is done.
        """
        item = _Pending(unit)
        with self._ready:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            here = not self._busy and not self._pending
            if here:
                self._busy = True
            else:
                self._queue_locked(item)
        if here:
            try:
                self._commit_alone(item)
            finally:
                self._release()
        return item.future.result()

    def submit(self, unit: Unit) -> Future[Any]:
        """Queue ``unit``; the future resolves after its transaction commits (or with its error)."""
        item = _Pending(unit)
        with self._ready:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue_locked(item)
        return item.future

    def _queue_locked(self, item: _Pending) -> None:
        self._pending.append(item)
        self._start_locked()
        self._ready.notify_all()

    def close(self) -> None:
        """Finish what is queued and any commit under way, then stop the writer thread."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._ready:
            while self._busy:
                self._ready.wait()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="overheard-commit", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._ready:
                # A caller committing its own unit: what queues meanwhile waits to go together.
                while self._busy or (not self._pending and not self._closed):
                    self._ready.wait()
                if not self._pending:
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._busy = True
            try:
                self._commit(batch)
            finally:
                self._release()

    def _release(self) -> None:
        """The commit under way has ended: the writer (and :meth:`close`) may go on."""
        with self._ready:
            self._busy = False
            self._ready.notify_all()

    def _commit(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            self._commit_alone(batch[0])
            return
        if self._commit_together(batch):
            return
        results: list[tuple[_Pending, Any]] = []
        failures: list[tuple[_Pending, Exception]] = []
        try:
            with transaction(self._sessions) as session:
                _begin(session)
                for item in batch:
                    outcome = _in_savepoint(session, item)
                    if isinstance(outcome, _Failed):
                        failures.append((item, outcome.error))
                    else:
                        results.append((item, outcome))
            self.commits += 1
        except Exception:
            log.warning("a shared commit of %d units failed; retrying each alone", len(batch))
            for item, _ in results:
                self._commit_alone(item)
            return
        finally:
            # A unit's own error is told only once the transaction holding the others has ended:
            # its caller may go and read what they wrote (a rival upload's row, say).
            for item, error in failures:
                item.future.set_exception(error)
        for item, outcome in results:
            item.future.set_result(outcome)

    def _commit_together(self, batch: list[_Pending]) -> bool:
        """Every unit, one flush, one commit; False (all rolled back) if anything failed."""
        try:
            with transaction(self._sessions) as session:
                _begin(session)
                outcomes = [item.unit(session) for item in batch]
                _flush(session)
        except Exception:
            return False
        self.commits += 1
        for item, outcome in zip(batch, outcomes, strict=True):
            item.future.set_result(outcome)
        return True

    def _commit_alone(self, item: _Pending) -> None:
        try:
            with transaction(self._sessions) as session:
                _begin(session)
                outcome = item.unit(session)
                _flush(session)
            self.commits += 1
        except BaseException as exc:
            item.future.set_exception(exc)
            return
        item.future.set_result(outcome)


@dataclass(frozen=True)
class _Failed:
    error: Exception


def _in_savepoint(session: Session, item: _Pending) -> Any:
    """Run one unit in a SAVEPOINT; on error roll back only it and return the error as
    :class:`_Failed` (its future is failed once the transaction has ended, not here)."""
    try:
        with session.begin_nested():
            outcome = item.unit(session)
            _flush(session)
            return outcome
    except Exception as exc:
        # The audit head this transaction remembered may belong to the rolled-back savepoint, and
        # so may the rows the unit left unwritten.
        session.info.pop(HEAD_INFO, None)
        session.info[_DEFERRED].clear()
        return _Failed(exc)
