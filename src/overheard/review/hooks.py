"""What the review programme does when recordings are deleted, and its start-up registration."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..db import utcnow
from ..recordings.deletion import DELETION_HOOKS
from ..recordings.voice_delete import HOLD_HOOKS
from ._tasks import withdraw_recordings
from .models import Agreement, Annotation, EmergencyReport, GoldItem

DELETED = "recording_deleted"
VOICE_DELETION = "voice_deletion_pending"
"""Why tasks of recordings a voice deletion names were withdrawn while it was asked or pending."""


def _count(session: Session, column: InstrumentedAttribute[str], ids: list[str]) -> int:
    return session.scalar(select(func.count()).where(column.in_(ids))) or 0


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Withdraw the recordings' tasks, delete their annotations, agreements and gold items."""
    if not recording_ids:
        return {}
    withdrawn = withdraw_recordings(session, recording_ids, DELETED)
    counts = {
        "review_tasks_withdrawn": withdrawn,
        "review_annotations": _count(session, Annotation.recording_id, recording_ids),
        "review_gold": _count(session, GoldItem.recording_id, recording_ids),
    }
    session.execute(delete(Agreement).where(Agreement.recording_id.in_(recording_ids)))
    session.execute(delete(Annotation).where(Annotation.recording_id.in_(recording_ids)))
    session.execute(delete(GoldItem).where(GoldItem.recording_id.in_(recording_ids)))
    # Emergency reports keep their ids (no content) for the privacy officer; they learn it is gone.
    session.execute(
        update(EmergencyReport)
        .where(
            EmergencyReport.recording_id.in_(recording_ids),
            EmergencyReport.recording_deleted_at.is_(None),
        )
        .values(recording_deleted_at=utcnow())
    )
    return counts


def on_voice_deletion(session: Session, recording_ids: list[str]) -> int:
    """A voice deletion was asked for or scheduled: its recordings leave review now."""
    return withdraw_recordings(session, recording_ids, VOICE_DELETION)


def register() -> None:
    """Install the deletion hooks (idempotent); call once at start-up."""
    if on_recordings_deleted not in DELETION_HOOKS:
        DELETION_HOOKS.append(on_recordings_deleted)
    if on_voice_deletion not in HOLD_HOOKS:
        HOLD_HOOKS.append(on_voice_deletion)
