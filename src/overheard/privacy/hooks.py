"""What a deletion does to staff notes written before notes were sealed, and its registration.

Notes written since are sealed with the clip's texts and deleted with them (:mod:`.notes`). A row
from before holds its note in plaintext: deleting the clip blanks it in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..hazmat.models import ReidentifyRequest
from ..recordings.deletion import DELETION_HOOKS
from ..review.models import EmergencyReport
from .models import EmergencyAction


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Blank the plaintext notes about ``recording_ids``; counts them as ``staff_notes``."""
    if not recording_ids:
        return {}
    reports = select(EmergencyReport.id).where(EmergencyReport.recording_id.in_(recording_ids))
    blanked = (
        update(ReidentifyRequest)
        .where(
            ReidentifyRequest.recording_id.in_(recording_ids),
            or_(ReidentifyRequest.reason != "", ReidentifyRequest.decision_note.is_not(None)),
        )
        .values(reason="", decision_note=None),
        update(EmergencyAction)
        .where(EmergencyAction.report_id.in_(reports), EmergencyAction.note != "")
        .values(note=""),
    )
    count = sum(session.execute(statement).rowcount for statement in blanked)  # type: ignore[attr-defined]
    return {"staff_notes": count} if count else {}


def register() -> None:
    """Install the deletion hook (idempotent); call once at start-up."""
    if on_recordings_deleted not in DELETION_HOOKS:
        DELETION_HOOKS.append(on_recordings_deleted)
