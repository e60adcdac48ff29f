"""One task API, two backends: in-process worker threads (default) or Celery on Redis.

The ``jobs`` table is the source of truth for both. A job is enqueued in the same transaction as the
change that needs it; a worker claims it atomically with a lease, runs its handler and records the
outcome. A worker that dies leaves a lease that expires, so the job runs again: delivery is at least
once and handlers are idempotent. A job that keeps failing ends ``failed`` and its handler's
``on_failure`` records the reason on its subject.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import String, Text, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from . import audit
from .counters import JOB_RUNS
from .db import Base, transaction, utcnow
from .errors import NotFound, safe_reason, safe_trace

if TYPE_CHECKING:
    from celery import Celery

    from .config import Settings
    from .platform import Platform

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
"""How long a claimed job is a worker's without a heartbeat (``job_lease_s`` overrides it)."""
POLL_S = 1.0
"""How often idle in-process workers look for due jobs they were not told about."""
WAKE_ENV = "OVERHEARD_JOB_WAKE"
"""Set by ``serve`` for the web processes it spawns: the abstract Unix socket on which the job
workers of the ``serve`` process listen, so a job enqueued by a web process starts at once."""


class JobState(StrEnum):
    """Where a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """A unit of background work about one subject (usually a recording id)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    """The last failure's exception types and frames, never a message (:func:`safe_trace`)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Later(Exception):
    """Raised by a handler that must not run yet: the job goes back to the queue, due ``delay_s``
    later, without counting as an attempt."""

    def __init__(self, delay_s: float, why: str) -> None:
        super().__init__(why)
        self.delay_s = delay_s
        """Seconds until the job is due again."""


class Handler(Protocol):
    """What a job kind does, and what happens when it has failed for good."""

    def __call__(self, platform: Platform, subject: str) -> None: ...


@dataclass(frozen=True)
class JobKind:
    """A registered job kind."""

    run: Callable[[Platform, str], None]
    on_failure: Callable[[Platform, str, str], None] | None = None


REGISTRY: dict[str, JobKind] = {}
"""Job kinds by name; modules register theirs at import."""


def register(
    name: str,
    run: Callable[[Platform, str], None],
    on_failure: Callable[[Platform, str, str], None] | None = None,
) -> None:
    """Make ``name`` runnable by every backend."""
    REGISTRY[name] = JobKind(run, on_failure)


def enqueue(
    session: Session, kind: str, subject: str, *, now: datetime | None = None, flush: bool = True
) -> Job:
    """Add a job in the caller's transaction; it becomes visible to workers when that commits
    (``flush=False``: written at the session's next flush)."""
    when = now or utcnow()
    job = Job(
        id=uuid.uuid4().hex,
        kind=kind,
        subject=subject,
        run_after=when,
        created_at=when,
        updated_at=when,
    )
    session.add(job)
    if flush:
        session.flush()
    return job


def new_job_row(kind: str, subject: str, now: datetime) -> dict[str, Any]:
    """A new queued job due at ``now`` as a row of ``jobs`` (every column), the row
    :func:`queue_audited` would add, for a caller that inserts it with :data:`INSERT_JOB`."""
    return {
        "id": uuid.uuid4().hex, "kind": kind, "subject": subject,
        "state": JobState.QUEUED.value, "attempts": 0, "run_after": now, "lease_until": None,
        "last_error": None, "created_at": now, "updated_at": now,
    }  # fmt: skip


INSERT_JOB = insert(Job.__table__)  # type: ignore[arg-type]
"""The Core INSERT of rows made by :func:`new_job_row` (built once)."""


@dataclass(frozen=True)
class Because:
    """The audit event written with a queued job: who asked for it and why."""

    actor: str
    action: str
    household_id: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] | None = None


def queue_audited(
    session: Session,
    because: Because,
    subject: str,
    *,
    kind: str | None = None,
    job: Job | None = None,
    state: str = JobState.QUEUED.value,
    run_after: datetime | None = None,
    now: datetime | None = None,
    audited_at: datetime | None = None,
    flush: bool = True,
) -> Job:
    """Queue a new job of ``kind`` (or put an existing ``job`` back in ``state``) and append the
    audit event ``because`` about ``subject``, both in the caller's transaction: neither commits
    without the other. ``run_after`` defaults to ``now``; the event is dated ``audited_at`` (default
    ``now``)."""
    when = now or utcnow()
    if job is None:
        assert kind is not None, "a new job needs its kind"
        job = enqueue(session, kind, subject, now=when, flush=flush)
    job.state = state
    job.run_after = run_after or when
    job.updated_at = when
    audit.append(
        session,
        actor=because.actor,
        action=because.action,
        subject=subject,
        household_id=because.household_id,
        reason=because.reason,
        details=because.details,
        now=audited_at or when,
        flush=flush,
    )
    return job


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    due = (Job.state == JobState.QUEUED.value) & (Job.run_after <= now)
    stale = (Job.state == JobState.RUNNING.value) & (Job.lease_until < now)
    return or_(due, stale)


def claim(
    sessions: sessionmaker[Session],
    *,
    job_id: str | None = None,
    now: datetime | None = None,
    lease_s: float = DEFAULT_LEASE_S,
) -> Job | None:
    """Atomically take one due job (or the named one) with a lease; None if there is none."""
    when = now or utcnow()
    with transaction(sessions) as session:
        query = select(Job.id).where(_claimable(when)).order_by(Job.run_after).limit(1)
        if job_id is not None:
            query = query.where(Job.id == job_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = session.scalar(query)
        if found is None:
            return None
        result = session.execute(
            update(Job)
            .where(Job.id == found, _claimable(when))
            .values(
                state=JobState.RUNNING.value,
                lease_until=when + timedelta(seconds=lease_s),
                attempts=Job.attempts + 1,
                updated_at=when,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(Job, found)


def run_claimed(platform: Platform, job: Job, *, now: Callable[[], datetime] = utcnow) -> JobState:
    """Run a claimed job's handler and record the outcome; returns the job's new state."""
    try:
        failure = _run_handler(platform, job)
    except Later as later:
        return _put_back(platform, job, later, now())
    if failure is not None:  # any handler error is recorded, never lost
        reason, trace = failure
        log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, reason)
        JOB_RUNS.labels(job.kind, "failed").inc()
        return _record_failure(platform, job, reason, trace, now())
    JOB_RUNS.labels(job.kind, "done").inc()
    with transaction(platform.sessions) as session:
        session.execute(  # a job cancelled while it ran (a spoken no) stays cancelled
            update(Job)
            .where(Job.id == job.id, Job.state == JobState.RUNNING.value)
            .values(state=JobState.DONE.value, lease_until=None, updated_at=now())
        )
    return JobState.DONE


def _run_handler(platform: Platform, job: Job) -> tuple[str, str] | None:
    """Run the job's handler: None if it succeeded, else the failure's :func:`safe_reason` and
    :func:`safe_trace` (:class:`Later` passes through).

    The failure is recorded by the caller, outside this ``except``: an error while recording it
    would otherwise carry the handler's error, message and all, along as its context into a log
    line or a Celery traceback."""
    kind = REGISTRY.get(job.kind)
    try:
        if kind is None:
            raise LookupError(f"unknown job kind {job.kind!r}")
        with Heartbeat(platform.sessions, job, platform.settings):
            kind.run(platform, job.subject)
    except Later:
        raise
    except Exception as exc:
        return safe_reason(exc), safe_trace(exc)
    return None


def _put_back(platform: Platform, job: Job, later: Later, when: datetime) -> JobState:
    """Queue a job whose handler said :class:`Later` again, its attempt not counted (if this claim
    still holds it: a job cancelled meanwhile stays cancelled)."""
    log.info("job %s (%s) waits %.1f s: %s", job.id, job.kind, later.delay_s, later)
    with transaction(platform.sessions) as session:
        session.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.state == JobState.RUNNING.value,
                Job.attempts == job.attempts,
            )
            .values(
                state=JobState.QUEUED.value,
                attempts=Job.attempts - 1,
                lease_until=None,
                run_after=when + timedelta(seconds=later.delay_s),
                updated_at=when,
            )
        )
    platform.jobs.notify(job.id, delay_s=later.delay_s)
    return JobState.QUEUED


@dataclass
class Heartbeat:
    """While a job runs, extend its lease every ``job_heartbeat_s``; a dead worker stops doing so."""

    sessions: sessionmaker[Session]
    job: Job
    settings: Settings
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(
            target=self._loop, name=f"overheard-heartbeat-{self.job.id[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.job_heartbeat_s + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.job_heartbeat_s):
            try:
                extend_lease(self.sessions, self.job, self.settings.job_lease_s)
            except Exception as exc:  # the database may be away for a moment; try next beat
                log.warning("heartbeat of job %s failed: %s", self.job.id, type(exc).__name__)


def extend_lease(
    sessions: sessionmaker[Session], job: Job, lease_s: float, *, now: datetime | None = None
) -> bool:
    """Push a running job's lease ``lease_s`` ahead, if this claim (same attempt) still holds it."""
    when = now or utcnow()
    with transaction(sessions) as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.state == JobState.RUNNING.value,
                Job.attempts == job.attempts,
            )
            .values(lease_until=when + timedelta(seconds=lease_s), updated_at=when)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def _record_failure(
    platform: Platform, job: Job, reason: str, trace: str, when: datetime
) -> JobState:
    """Queue the job again, or fail it for good; ``trace`` (from :func:`safe_trace`) goes on its
    row, ``reason`` to its kind's ``on_failure``."""
    final = job.attempts >= platform.settings.job_max_attempts
    delay = platform.settings.job_retry_base_s * 2 ** (job.attempts - 1)
    state = JobState.FAILED if final else JobState.QUEUED
    with transaction(platform.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                state=state.value,
                lease_until=None,
                last_error=trace[:8000],
                run_after=when + timedelta(seconds=delay),
                updated_at=when,
            )
        )
    kind = REGISTRY.get(job.kind)
    if final and kind is not None and kind.on_failure is not None:
        kind.on_failure(platform, job.subject, reason)
    if not final:
        platform.jobs.notify(job.id, delay_s=delay)
    return state


def pending_id(session: Session, kind: str, subject: str) -> str | None:
    """The id of a queued or running job of ``kind`` about ``subject``, if there is one."""
    pending = (JobState.QUEUED.value, JobState.RUNNING.value)
    return session.scalar(
        select(Job.id)
        .where(Job.subject == subject, Job.kind == kind, Job.state.in_(pending))
        .limit(1)
    )


def run_now(platform: Platform, kind: str, subject: str) -> JobState | None:
    """Claim and run, in this worker, a due job of ``kind`` about ``subject``; None if none is due."""
    with platform.sessions() as session:
        job_id = pending_id(session, kind, subject)
    job = claim(platform.sessions, job_id=job_id) if job_id else None
    return run_claimed(platform, job) if job is not None else None


def failed_jobs(session: Session) -> list[Job]:
    """Jobs that gave up, newest first."""
    return list(
        session.scalars(
            select(Job).where(Job.state == JobState.FAILED.value).order_by(Job.updated_at.desc())
        )
    )


def retry(session: Session, job_id: str, *, now: datetime | None = None) -> Job:
    """Put a failed job back in the queue with a fresh count of attempts."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    job.state, job.attempts, job.run_after = JobState.QUEUED.value, 0, now or utcnow()
    return job


class JobBackend(Protocol):
    """How workers learn that a job is due."""

    def notify(self, job_id: str, *, delay_s: float = 0.0) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class InProcessBackend:
    """Worker threads inside the serving process, polling the jobs table and woken on enqueue.

    With ``listen`` (an abstract Unix socket name) they are also woken by other processes'
    :class:`ForwardingBackend`: the web processes ``serve`` spawns hold no workers (nor the models
    the jobs load), the ``serve`` process does, once.
    """

    platform: Platform
    threads: int
    listen: str = ""
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def notify(self, job_id: str, *, delay_s: float = 0.0) -> None:
        """Wake an idle worker (delayed jobs are found by polling when due)."""
        self._wake.set()

    def start(self) -> None:
        """Start the worker threads (and the listener for other processes' wake-ups)."""
        for i in range(self.threads):
            worker = threading.Thread(target=self._loop, name=f"overheard-worker-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        if self.listen:
            inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            inbox.bind("\0" + self.listen)
            inbox.settimeout(POLL_S)
            listener = threading.Thread(target=self._listen, args=(inbox,), name="overheard-wake", daemon=True)
            listener.start()
            self._workers.append(listener)

    def stop(self) -> None:
        """Ask workers to finish their current job and stop."""
        self._stop.set()
        self._wake.set()
        for worker in self._workers:
            worker.join(timeout=30)
        self._workers.clear()

    def _listen(self, inbox: socket.socket) -> None:
        with inbox:
            while not self._stop.is_set():
                try:
                    inbox.recv(16)
                except TimeoutError:
                    continue
                self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = claim(self.platform.sessions, lease_s=self.platform.settings.job_lease_s)
            except Exception as exc:
                log.error("claiming a job failed\n%s", safe_trace(exc))
                job = None
            if job is None:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            try:
                run_claimed(self.platform, job)
            except Exception as exc:  # outcome not recorded: the lease expires, the job reruns
                log.error("recording the outcome of job %s failed: %s", job.id, safe_trace(exc))


@dataclass
class CeleryBackend:
    """Jobs announced to Celery workers over a broker (Redis); the jobs table stays the truth."""

    platform: Platform
    broker_url: str
    _quiet_until: float = 0.0
    """Monotonic time before which announcing is skipped, after the broker failed."""

    def __post_init__(self) -> None:
        from .celery_app import make_celery

        self.celery = make_celery(
            self.broker_url, timeout_s=self.platform.settings.broker_timeout_s
        )

    def notify(self, job_id: str, *, delay_s: float = 0.0) -> None:
        """Send the job id to a Celery worker; never raises (see :func:`announce`).

        After a failed announcement the broker is left alone for ``job_reannounce_every_s``: the
        job is in the outbox either way, and uploads should not each wait out a broker timeout.
        """
        if time.monotonic() < self._quiet_until:
            return
        if not announce(self.celery, job_id, delay_s=delay_s):
            self._quiet_until = time.monotonic() + self.platform.settings.job_reannounce_every_s

    def start(self) -> None:
        """Nothing runs here; `overheard worker` processes run the jobs."""

    def stop(self) -> None:
        """Nothing to stop in this process."""


@dataclass
class ForwardingBackend:
    """A web process without job workers: after an enqueue it pokes the workers of the ``serve``
    process that spawned it (a datagram on ``address``). Never raises and never blocks: a lost poke
    only delays the job until the workers' next poll (``POLL_S``)."""

    address: str
    _out: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._out.setblocking(False)

    def notify(self, job_id: str, *, delay_s: float = 0.0) -> None:
        """Wake the workers (delayed jobs are found by their polling when due)."""
        # The serve process is restarting or its inbox is full: the workers poll anyway.
        with contextlib.suppress(OSError):
            self._out.sendto(b"j", "\0" + self.address)

    def start(self) -> None:
        """Nothing runs here."""

    def stop(self) -> None:
        """Close the socket (later notifications are dropped; the workers poll)."""
        self._out.close()


def wake_address() -> str:
    """A fresh abstract-socket name for this ``serve`` process's job workers."""
    return f"overheard-jobs-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def announce(celery: Celery, job_id: str, *, delay_s: float = 0.0) -> bool:
    """Send ``job_id`` to the broker; False (logged) when the broker cannot take it.

    The job is already committed in the jobs table, which is the outbox: ``overheard worker``
    re-sends every due job each ``job_reannounce_every_s``, so a lost announcement only delays it.
    """
    try:
        celery.send_task("overheard.run_job", args=[job_id], countdown=delay_s or None)
    except Exception as exc:  # broker down or slow: the outbox scan delivers it later
        log.warning("broker did not take job %s (%s); it will be re-announced", job_id, exc)
        return False
    return True


def make_backend(platform: Platform) -> JobBackend:
    """The in-process pool, Celery when ``broker_url`` is set, or (in a web process ``serve``
    spawned) a forwarder to the pool of the ``serve`` process."""
    if platform.settings.broker_url:
        return CeleryBackend(platform, platform.settings.broker_url)
    if forward := os.environ.get(WAKE_ENV):
        return ForwardingBackend(forward)
    return InProcessBackend(platform, platform.settings.workers)


def due_job_ids(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of jobs that are due (or whose lease expired), for re-announcing lost messages."""
    query = select(Job.id).where(_claimable(now or utcnow())).order_by(Job.run_after).limit(limit)
    return list(session.scalars(query))


@dataclass
class Periodic:
    """Runs ``action`` every ``every_s`` seconds on a daemon thread until stopped; errors are logged."""

    name: str
    every_s: float
    action: Callable[[], object]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the timer (the first run is one period from now)."""
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer and wait for a run in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.action()
            except Exception as exc:
                log.error("%s failed\n%s", self.name, safe_trace(exc))
