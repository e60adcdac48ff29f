"""What the system does when an annotator raises a flag.

``sensitive``: the clip leaves every queue at once and is excluded from training for good.
``emergency``: the clip goes to the privacy officer's queue (the policy for it comes later).
Other flags are recorded on the annotation and need no action here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._tasks import new_short_id, withdraw_recordings
from .models import EmergencyReport, Exclusion
from .policy import Flag


@dataclass(frozen=True)
class FlagEvent:
    """An annotator's flag on a clip, as the hooks see it (ids only)."""

    recording_id: str
    task_id: str
    annotation_id: str
    annotator: str
    at: datetime


FlagHook = Callable[[Session, FlagEvent], None]

REPORT_CLOSED = "closed"
"""The final state of an emergency report (``privacy.emergency.ReportState.CLOSED``)."""


def exclude_from_training(
    session: Session, recording_id: str, reason: str, by: str, now: datetime
) -> Exclusion:
    """Keep a recording out of every training set for good (idempotent: the first reason stays)."""
    found = session.get(Exclusion, recording_id)
    if found is None:
        found = Exclusion(recording_id=recording_id, reason=reason, by=by, at=now)
        session.add(found)
        session.flush()
    return found


def is_excluded(session: Session, recording_id: str) -> bool:
    """Whether a recording must never be used for training."""
    return session.get(Exclusion, recording_id) is not None


def in_emergency(session: Session, recording_id: str, *, lock: bool = False) -> bool:
    """Whether an emergency report not yet closed names the recording (its privacy officers may
    hear it under a case even when it is flagged ``sensitive``, ``docs/policies/emergency.md``).

    ``lock`` holds the reports ``FOR SHARE``: closing one (which holds it ``FOR UPDATE``) either
    committed before this read or waits for the reader's commit.
    """
    query = select(EmergencyReport.id).where(
        EmergencyReport.recording_id == recording_id,
        EmergencyReport.state != REPORT_CLOSED,
        EmergencyReport.recording_deleted_at.is_(None),
    )
    if lock:
        query = query.with_for_update(read=True)
    return session.scalars(query).first() is not None


def on_sensitive(session: Session, event: FlagEvent) -> None:
    """Withdraw the clip from every queue and exclude it from training."""
    withdraw_recordings(session, [event.recording_id], Flag.SENSITIVE.value)
    exclude_from_training(
        session, event.recording_id, Flag.SENSITIVE.value, event.annotator, event.at
    )


def on_emergency(session: Session, event: FlagEvent) -> None:
    """Put the clip in the privacy officer's queue."""
    session.add(
        EmergencyReport(
            id=new_short_id(),
            recording_id=event.recording_id,
            annotation_id=event.annotation_id,
            reported_by=event.annotator,
            at=event.at,
        )
    )
    session.flush()


FLAG_HOOKS: dict[Flag, list[FlagHook]] = {
    Flag.SENSITIVE: [on_sensitive],
    Flag.EMERGENCY: [on_emergency],
}
"""Hooks per flag, run in the submitting transaction; other modules may append theirs."""


def run_flag_hooks(session: Session, flags: frozenset[Flag], event: FlagEvent) -> None:
    """Run every hook of every raised flag, in a fixed order."""
    for flag in sorted(flags):
        for hook in FLAG_HOOKS.get(flag, []):
            hook(session, event)


def emergency_queue(session: Session) -> list[EmergencyReport]:
    """Open emergency reports, oldest first."""
    return list(
        session.scalars(
            select(EmergencyReport)
            .where(EmergencyReport.state == "open")
            .order_by(EmergencyReport.at)
        )
    )
