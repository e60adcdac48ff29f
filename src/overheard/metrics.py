"""Prometheus metrics: request latency by route, uploads, jobs, and figures read from the database.

Counters and histograms that processes update (requests, uploads, job runs) go through
``prometheus_client``; with ``metrics_multiprocess_dir`` set (and ``PROMETHEUS_MULTIPROC_DIR``
pointing at it in every process, which ``overheard deploy`` does) they are summed over processes.
What the database already knows — queue depth, job lag, failed jobs, serves, deletions, the age of
the last signed audit checkpoint — is read at scrape time, so every process reports the same truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from threading import Lock

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client import generate_latest as _generate
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from .audit import AuditEvent
from .auditlog.checkpoints import Checkpoint
from .db import as_utc, utcnow
from .jobs import Job, JobState

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""Media type of the exposition format."""
AUDITED_ACTIONS = {
    "audio.serve": "serves",
    "text.view": "serves",
    "recordings.delete": "deletions",
    "recordings.purge_audio": "deletions",
    "keys.destroy": "deletions",
}
"""Audit actions counted as serves and deletions (the audit log is their record)."""

@dataclass(eq=False)
class DatabaseCollector(Collector):
    """Figures read from the database at each scrape (audit counts incrementally, by sequence)."""

    sessions: sessionmaker[Session]
    _seen_seq: int = 0
    _counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Queue depth and lag, failed jobs, serves and deletions, checkpoint age."""
        now = utcnow()
        with self.sessions() as session:
            depth = GaugeMetricFamily(
                "overheard_job_queue_depth", "Jobs waiting to run, by kind.", labels=["kind"]
            )
            for kind, count in _queued(session):
                depth.add_metric([kind], count)
            yield depth
            yield GaugeMetricFamily(
                "overheard_job_lag_seconds",
                "Age of the oldest due job not yet started.",
                value=_lag_s(session, now),
            )
            yield GaugeMetricFamily(
                "overheard_jobs_failed", "Jobs that gave up (see `overheard jobs failed`).",
                value=session.scalar(
                    select(func.count()).select_from(Job).where(Job.state == JobState.FAILED.value)
                ) or 0,
            )  # fmt: skip
            yield from self._audited(session)
            yield GaugeMetricFamily(
                "overheard_audit_checkpoint_age_seconds",
                "Seconds since the last signed audit checkpoint (-1: none yet).",
                value=_checkpoint_age_s(session, now),
            )

    def _audited(self, session: Session) -> Iterator[CounterMetricFamily]:
        with self._lock:
            rows = session.execute(
                select(AuditEvent.action, func.count(), func.max(AuditEvent.seq))
                .where(AuditEvent.seq > self._seen_seq, AuditEvent.action.in_(AUDITED_ACTIONS))
                .group_by(AuditEvent.action)
            ).all()
            for action, count, top in rows:
                family = self._counts.setdefault(AUDITED_ACTIONS[action], {})
                family[action] = family.get(action, 0) + count
                self._seen_seq = max(self._seen_seq, top)
            snapshot = {name: dict(by_action) for name, by_action in self._counts.items()}
        for name in ("serves", "deletions"):
            family = CounterMetricFamily(
                f"overheard_{name}", f"Audited {name}, by audit action.", labels=["action"]
            )
            for action, count in snapshot.get(name, {}).items():
                family.add_metric([action], count)
            yield family


def _queued(session: Session) -> list[tuple[str, int]]:
    query = (
        select(Job.kind, func.count())
        .where(Job.state == JobState.QUEUED.value)
        .group_by(Job.kind)
    )
    return [(kind, count) for kind, count in session.execute(query)]


def _lag_s(session: Session, now: datetime) -> float:
    oldest = session.scalar(
        select(func.min(Job.run_after)).where(
            Job.state == JobState.QUEUED.value, Job.run_after <= now
        )
    )
    if oldest is None:
        return 0.0
    return max(0.0, (now - as_utc(oldest)).total_seconds())


def _checkpoint_age_s(session: Session, now: datetime) -> float:
    last = session.scalar(select(func.max(Checkpoint.at)))
    return -1.0 if last is None else (now - as_utc(last)).total_seconds()


def exposition(sessions: sessionmaker[Session], multiprocess_dir: str) -> bytes:
    """The metrics page: this process's (or every process's) metrics plus the database figures."""
    database = CollectorRegistry()
    database.register(_collector_for(sessions))
    if multiprocess_dir:
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes, path=multiprocess_dir)
    else:
        from prometheus_client import REGISTRY as processes
    return _generate(processes) + _generate(database)


_COLLECTORS: dict[int, DatabaseCollector] = {}


def _collector_for(sessions: sessionmaker[Session]) -> DatabaseCollector:
    # One collector per session factory keeps the incremental audit counts across scrapes.
    key = id(sessions)
    if key not in _COLLECTORS:
        _COLLECTORS[key] = DatabaseCollector(sessions)
    return _COLLECTORS[key]


def prepare_multiprocess_dir(path: str) -> None:
    """Empty the shared metrics directory before the processes that write it start."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
