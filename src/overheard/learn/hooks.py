"""What the learning loop does when recordings are deleted, and its start-up registration.

Inside the deletion transaction: each export membership of a deleted recording loses its clip key
(the clip inside the sealed shard can no longer be opened by anyone) and is marked removed; the
lineage of every model version it trained is stamped, so the receipt counts the affected versions
and :func:`~overheard.learn.registry.versions_affected_by_receipt` can list them.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..recordings.deletion import DELETION_HOOKS
from .models import ExportMember
from .registry import mark_deleted


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Erase the clips' export keys and stamp the lineage of the model versions they trained."""
    if not recording_ids:
        return {}
    now = utcnow()
    removed = session.execute(
        update(ExportMember)
        .where(ExportMember.recording_id.in_(recording_ids), ExportMember.removed_at.is_(None))
        .values(removed_at=now, clip_key=None)
        .execution_options(synchronize_session=False)
    )
    affected = mark_deleted(session, recording_ids, now)
    return {
        "export_memberships_removed": int(removed.rowcount),  # type: ignore[attr-defined]
        "model_versions_affected": len(affected),
    }


def register() -> None:
    """Install the deletion hook (idempotent); call once at start-up."""
    if on_recordings_deleted not in DELETION_HOOKS:
        DELETION_HOOKS.append(on_recordings_deleted)
