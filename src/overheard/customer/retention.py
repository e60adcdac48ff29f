"""Retention: recordings older than their household's choice are deleted by an audited sweep.

The sweep deletes through :func:`overheard.recordings.deletion.delete_recordings` with scope kind
``retention`` (one signed receipt per household and sweep), so every deletion hook runs. It also
purges the audio of accidental wake-ups older than ``accidental_retention_s``; their row keeps only
duration and score; and the audio of recordings whose pipeline job failed for good, kept as
received (talk before the wake word included) only ``failed_audio_keep_s`` for a retry. Schedule
:func:`sweep_retention` (e.g. hourly); ``now`` is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from ..db import transaction
from ..households import (  # noqa: F401 - the cutoff is the sweep's, kept importable here
    RETENTION_MONTHS,
    RETENTION_SPANS,
    Household,
    Retention,
    cutoff,
    months_before,
)
from ..platform import Platform
from ..purges import Purge
from ..recordings.deletion import delete_recordings
from ..recordings.models import Recording, Status
from ..recordings.purging import FAILED_PURGE, RETENTION_PURGE, schedule_audio_purge

SYSTEM_ACTOR = "system:retention"
SWEEP_BATCH = 1000
"""Recordings deleted per receipt at most; a larger backlog takes several receipts."""


@dataclass
class SweepReport:
    """What one sweep removed."""

    recordings_deleted: dict[str, int] = field(default_factory=dict)
    """Per household id, recordings deleted."""
    receipts: list[str] = field(default_factory=list)
    accidental_audio_purged: int = 0
    failed_audio_purged: int = 0


def sweep_retention(
    platform: Platform,
    now: datetime,
    *,
    accidental_retention_s: float = 0.0,
    failed_audio_keep_s: float | None = None,
) -> SweepReport:
    """Delete every recording past its household's retention; purge old accidental audio, and the
    audio of failed recordings past ``failed_audio_keep_s`` (default: the platform's setting)."""
    report = SweepReport()
    with platform.sessions() as session:
        households = session.scalars(
            select(Household.id).where(Household.retention != Retention.UNTIL_DELETED.value)
        ).all()
    for household_id in households:
        _sweep_household(platform, household_id, now, report)
    report.accidental_audio_purged = purge_accidental_audio(
        platform, now - timedelta(seconds=accidental_retention_s), now
    )
    if failed_audio_keep_s is None:
        failed_audio_keep_s = platform.settings.failed_audio_keep_s
    report.failed_audio_purged = purge_failed_audio(
        platform, now - timedelta(seconds=failed_audio_keep_s), now
    )
    return report


def expired(household_id: str, before: datetime) -> ColumnElement[bool]:
    """The household's recordings a retention sweep deletes: captured before ``before``."""
    return (Recording.household_id == household_id) & (Recording.captured_at < before)


def _sweep_household(
    platform: Platform, household_id: str, now: datetime, report: SweepReport
) -> None:
    """Delete the household's recordings past its retention as it is now, batch by batch.

    The choice is read again with each batch, not taken from the sweep's list of households: a
    sweep with a backlog takes minutes, and a household that chose to keep its recordings longer
    meanwhile must not lose them to the choice it had before."""
    while True:
        with platform.sessions() as session:
            retention = session.scalar(
                select(Household.retention).where(Household.id == household_id)
            )
            before = cutoff(retention, now) if retention is not None else None
            if before is None:
                return
            ids = list(
                session.scalars(
                    select(Recording.id).where(expired(household_id, before)).limit(SWEEP_BATCH)
                )
            )
        if not ids:
            return
        scope = {"kind": "retention", "retention": retention, "before": before.isoformat()}
        receipt = delete_recordings(
            platform, household_id, ids, actor=SYSTEM_ACTOR, scope=scope, now=now
        )
        report.recordings_deleted[household_id] = (
            report.recordings_deleted.get(household_id, 0) + len(ids)
        )
        report.receipts.append(receipt.id)


def purge_accidental_audio(platform: Platform, before: datetime, now: datetime) -> int:
    """Schedule the purge of accidental wake-ups' audio processed before ``before``; how many.

    Each row keeps pointing at its blob until the blob is gone; the purge's completion then clears
    it and audits ``audio_purged`` (see :mod:`overheard.recordings.purging`).
    """
    with transaction(platform.sessions) as session:
        waiting = select(Purge.location).where(Purge.reason == RETENTION_PURGE)
        rows = session.scalars(
            select(Recording).where(
                Recording.status == Status.ACCIDENTAL.value,
                Recording.audio_blob.is_not(None),
                Recording.processed_at <= before,
                Recording.audio_blob.not_in(waiting),
            )
        ).all()
        for rec in rows:
            schedule_audio_purge(session, rec, reason=RETENTION_PURGE, now=now)
    return len(rows)


def purge_failed_audio(platform: Platform, before: datetime, now: datetime) -> int:
    """Schedule the purge of the audio of recordings that failed before ``before``; how many.

    A failed recording was never trimmed: its blob is the clip as received, talk before the wake
    word and after the request included. It is kept only so that an operator can retry the job
    (``overheard jobs retry``); past the keep it goes like an accidental wake's audio, the row
    staying ``failed`` with its reason. A row failed before its failure time was recorded counts
    from its receipt. The rows are locked: a retried job that has taken a row (``processing``)
    is not purged under it, and one that comes after the purge was scheduled finds it and ends.
    """
    failed_at = func.coalesce(Recording.processed_at, Recording.received_at)
    with transaction(platform.sessions) as session:
        waiting = select(Purge.location).where(Purge.reason == FAILED_PURGE)
        rows = session.scalars(
            select(Recording)
            .where(
                Recording.status == Status.FAILED.value,
                Recording.audio_blob.is_not(None),
                failed_at <= before,
                Recording.audio_blob.not_in(waiting),
            )
            .order_by(Recording.id)
            .with_for_update()
        ).all()
        for rec in rows:
            schedule_audio_purge(session, rec, reason=FAILED_PURGE, now=now)
    return len(rows)
