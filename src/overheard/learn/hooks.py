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
from ..recordings.deletion import DELETION_HOOKS, add_to_receipt
from . import working
from .forget import condemned_by
from .models import ExportMember
from .registry import mark_deleted

MODELS_LISTED = "model_versions_to_destroy"
"""Receipt field: versions trained on a deleted recording, destroyed by the next retention sweep."""


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Erase the clips' export keys and stamp the lineage of the model versions they trained."""
    if not recording_ids:
        return {}
    now = utcnow()
    add_to_receipt(session, MODELS_LISTED, condemned_by(session, recording_ids))
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
    for hook in (on_recordings_deleted, working.on_recordings_deleted):
        if hook not in DELETION_HOOKS:
            DELETION_HOOKS.append(hook)
