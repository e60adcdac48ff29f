"""Purges: a copy (a blob, a plaintext folder, a model file, the bytes of deleted rows in SQLite's
write-ahead log) is recorded as gone only once it is.

A purge is a row in ``purges``, written in the same transaction as the decision to remove the copy
(a deletion, an accidental wake, a retention expiry), together with a job for its batch. Anyone may
run it: the caller right after the commit, the job (retried with backoff, then re-queued every
``purge_retry_s`` for as long as it takes), or ``overheard sweep``. Running a purge removes the copy,
checks that it is gone, then in one transaction deletes the row and runs the completion registered
for its reason (which clears the row that pointed at the copy and writes the audit event saying it
is gone). Two workers racing on one purge both remove (idempotent); only the one whose transaction
deletes the row completes it, so each completion happens exactly once.

Local paths are removed only by a process on the host that wrote them: elsewhere the path would look
gone without being gone.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import String, Text, delete, event, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from . import jobs
from .db import Base, transaction, truncate_wal, utcnow
from .errors import safe_reason, safe_trace

if TYPE_CHECKING:
    from .platform import Platform

log = logging.getLogger(__name__)

PURGE_JOB = "purge"
"""Job kind: run the pending purges of one batch (the job's subject)."""
SESSION_BATCH = "overheard.purge_batch"
"""``Session.info`` key: the batch id shared by every purge scheduled in that transaction."""
RUNNER_INFO = "overheard.purge_runner"
"""``Session.info`` key: what runs a transaction's purges right after it commits (the platform)."""
ERROR_CHARS = 500
COMPLETE_BATCH = 500
"""Removed copies recorded gone per transaction."""


class Target(StrEnum):
    """What a purge removes."""

    BLOB = "blob"
    """A key in the platform's blob store."""
    PATH = "path"
    """A file or folder on the local file system of ``host``."""
    DB_LOG = "db_log"
    """SQLite's write-ahead log (the location names the database): emptied into the database."""


class Purge(Base):
    """One copy still to remove; the row disappears in the transaction that records it gone."""

    __tablename__ = "purges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch: Mapped[str] = mapped_column(String(32), index=True)
    """Purges scheduled together (one job runs them)."""
    target: Mapped[str] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(String(1000), index=True)
    """The blob key or the absolute path."""
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    """For paths: the host whose file system holds it."""
    reason: Mapped[str] = mapped_column(String(32))
    """Names the completion to run: ``accidental``, ``deletion``, ``retention``, …"""
    recording_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    household_id: Mapped[str | None] = mapped_column(String(32), default=None)
    receipt_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


@dataclass(frozen=True)
class Done:
    """A purge that has just been recorded as complete (what a completion receives)."""

    id: str
    location: str
    reason: str
    recording_id: str | None
    household_id: str | None
    receipt_id: str | None
    at: datetime


Completion = Callable[[Session, Done], None]
"""Runs in the transaction that records the purge done: clear pointers, write the audit event."""
COMPLETIONS: dict[str, Completion] = {}
"""Completions by purge reason; modules register theirs at import."""


class PurgeIncomplete(RuntimeError):
    """Some purges of a batch could not be done yet (the job retries)."""


def this_host() -> str:
    """The name recorded on path purges."""
    return socket.gethostname()


def schedule(
    session: Session,
    target: Target,
    locations: Iterable[str],
    *,
    reason: str,
    recording_id: str | None = None,
    household_id: str | None = None,
    receipt_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Add purges in the caller's transaction (one job per transaction); returns their ids."""
    wanted = list(dict.fromkeys(locations))
    if not wanted:
        return []
    when = now or utcnow()
    batch = _session_batch(session, when)
    host = this_host() if target is Target.PATH else None
    ids = []
    for location in wanted:
        purge = Purge(
            id=uuid.uuid4().hex,
            batch=batch,
            target=target.value,
            location=location,
            host=host,
            reason=reason,
            recording_id=recording_id,
            household_id=household_id,
            receipt_id=receipt_id,
            created_at=when,
        )
        session.add(purge)
        ids.append(purge.id)
    session.flush()
    return ids


def carry_runner(sessions: sessionmaker[Session], runner: Platform) -> None:
    """Make every session of ``sessions`` try its purges with ``runner`` as soon as it commits."""
    info = dict(sessions.kw.get("info") or {})
    info[RUNNER_INFO] = runner
    sessions.configure(info=info)


def _session_batch(session: Session, when: datetime) -> str:
    """The transaction's batch id; the first call enqueues its job and the after-commit attempt."""
    batch: str | None = session.info.get(SESSION_BATCH)
    if batch is None:
        batch = session.info[SESSION_BATCH] = uuid.uuid4().hex
        jobs.enqueue(session, PURGE_JOB, batch, now=when)
        event.listen(session, "after_commit", _forget_batch, once=True)
        event.listen(session, "after_rollback", _forget_batch, once=True)
        runner = session.info.get(RUNNER_INFO)
        if runner is not None:
            event.listen(
                session, "after_commit", lambda _s: _try_batch(runner, batch), once=True
            )
    return batch


def _try_batch(runner: Platform, batch: str) -> None:
    try:
        run(runner, batch=batch)
    except Exception as exc:  # the job and the sweep retry; the committed work stands
        log.error("purging after commit failed; the purge job will retry\n%s", safe_trace(exc))


def _forget_batch(session: Session) -> None:
    session.info.pop(SESSION_BATCH, None)


def for_receipt(session: Session, receipt_id: str) -> list[str]:
    """Give this transaction's purges that have no receipt ``receipt_id``; all of its purge ids."""
    batch = session.info.get(SESSION_BATCH)
    if batch is None:
        return []
    session.execute(
        update(Purge)
        .where(Purge.batch == batch, Purge.receipt_id.is_(None))
        .values(receipt_id=receipt_id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(Purge.id).where(Purge.batch == batch)))


def scheduled_here(session: Session, target: Target) -> list[str]:
    """Locations of ``target`` purges scheduled in this transaction, sorted."""
    batch = session.info.get(SESSION_BATCH)
    if batch is None:
        return []
    query = select(Purge.location).where(Purge.batch == batch, Purge.target == target.value)
    return sorted(set(session.scalars(query)))


def pending(session: Session, *, batch: str | None = None, receipt_id: str | None = None) -> int:
    """How many purges are still to do (of a batch, of a receipt, or in all)."""
    query = select(func.count()).select_from(Purge)
    if batch is not None:
        query = query.where(Purge.batch == batch)
    if receipt_id is not None:
        query = query.where(Purge.receipt_id == receipt_id)
    return int(session.scalar(query) or 0)


def run(platform: Platform, *, batch: str | None = None, ids: Sequence[str] | None = None) -> int:
    """Try the pending purges (of ``batch``, or ``ids``, or all); returns how many still wait."""
    with platform.sessions() as session:
        query = select(Purge).order_by(Purge.created_at)
        if batch is not None:
            query = query.where(Purge.batch == batch)
        if ids is not None:
            query = query.where(Purge.id.in_(list(ids)))
        todo = list(session.scalars(query))
        session.expunge_all()
    removed = [purge for purge in todo if remove(platform, purge)]
    for start in range(0, len(removed), COMPLETE_BATCH):
        _complete(platform, removed[start : start + COMPLETE_BATCH], utcnow())
    return len(todo) - len(removed)


def remove(platform: Platform, purge: Purge) -> bool:
    """Remove one copy and check it is gone; False (error noted) when that cannot be done now."""
    if purge.target == Target.PATH.value and purge.host != this_host():
        return False
    try:
        _remove(platform, purge)
    except Exception as exc:  # any failure leaves the purge pending, with why
        _note_failure(platform, purge, exc)
        return False
    return True


def _remove(platform: Platform, purge: Purge) -> None:
    if purge.target == Target.BLOB.value:
        platform.blobs.delete(purge.location)
        if platform.blobs.exists(purge.location):
            raise RuntimeError(f"blob {purge.location} still exists after delete")
        return
    if purge.target == Target.DB_LOG.value:
        if not truncate_wal(platform.engine):
            raise RuntimeError("the database log is in use by a reader or writer; not emptied yet")
        return
    remove_path(Path(purge.location))


def remove_path(path: Path) -> None:
    """Remove a file or a whole folder (never following a symlink); nothing if already gone."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if os.path.lexists(path):
        raise RuntimeError(f"{path} still exists after removal")


def _note_failure(platform: Platform, purge: Purge, exc: BaseException) -> None:
    """Count the failed try and say why by type only (:func:`safe_reason`): a store's message
    quotes the copy's key or path, which names the household and the recording, and the row and the
    log are read outside the content gate; the purge's id leads an operator to the rest."""
    reason = safe_reason(exc)
    log.warning("purge %s (%s) failed: %s", purge.id, purge.target, reason)
    with transaction(platform.sessions) as session:
        session.execute(
            update(Purge)
            .where(Purge.id == purge.id)
            .values(attempts=Purge.attempts + 1, last_error=reason[:ERROR_CHARS])
        )


def _complete(platform: Platform, removed: list[Purge], when: datetime) -> None:
    """Record gone copies in one transaction; only purges whose row this call deletes complete."""
    with transaction(platform.sessions) as session:
        mine = set(
            session.scalars(
                delete(Purge).where(Purge.id.in_([p.id for p in removed])).returning(Purge.id)
            )
        )
        for purge in removed:
            completion = COMPLETIONS.get(purge.reason)
            if purge.id in mine and completion is not None:
                completion(session, _done(purge, when))


def _done(purge: Purge, when: datetime) -> Done:
    return Done(
        purge.id,
        purge.location,
        purge.reason,
        purge.recording_id,
        purge.household_id,
        purge.receipt_id,
        when,
    )


def run_batch(platform: Platform, batch: str) -> None:
    """The job handler: every purge of the batch done, or :class:`PurgeIncomplete` (retried)."""
    left = run(platform, batch=batch)
    if left:
        raise PurgeIncomplete(f"{left} purge(s) of batch {batch} still pending")


def requeue(platform: Platform, batch: str, reason: str) -> None:
    """A purge job gave up: queue it again, later, because a purge is never abandoned."""
    delay = platform.settings.purge_retry_s
    when = utcnow() + timedelta(seconds=delay)
    with transaction(platform.sessions) as session:
        if not pending(session, batch=batch):
            return
        job = session.scalars(
            select(jobs.Job)
            .where(jobs.Job.kind == PURGE_JOB, jobs.Job.subject == batch)
            .order_by(jobs.Job.created_at.desc())
            .limit(1)
        ).first()
        if job is None:
            job = jobs.enqueue(session, PURGE_JOB, batch, now=when)
        else:  # the same row again: an outage leaves one job per batch, not one per retry cycle
            job.state, job.attempts, job.run_after = jobs.JobState.QUEUED.value, 0, when
            job.lease_until, job.updated_at = None, utcnow()
        job_id = job.id
    log.warning("purge batch %s still pending (%s); retrying in %.0f s", batch, reason, delay)
    platform.jobs.notify(job_id, delay_s=delay)


def register() -> None:
    """Register the purge job."""
    jobs.register(PURGE_JOB, run_batch, requeue)
