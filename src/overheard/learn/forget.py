"""Models forget: every version trained on a since-deleted recording is destroyed by the sweep.

A model artifact keeps what its training clips said (an ASR version's ``lm.arpa`` holds word triples
only one household ever spoke; an intent model keeps its phrasing's n-grams). So each retention
sweep destroys every version, retired ones included, whose lineage has a deleted recording: it is
retired (the pipeline falls back to the newest approved version that is still whole, or to the
default models) and its files become a purge, retried until they are gone. A lead who retrains with
``train … --exclude-deleted`` before the sweep keeps the pipeline adapted; the successor's lineage
has no deleted clip, so it stays. The deletion receipt names the versions it condemns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, purges
from ..db import transaction, utcnow
from ..platform import Platform
from ..purges import Target
from .models import Lineage, ModelVersion
from .registry import retire

ACTOR = "system:retention"
DESTROYED_BECAUSE = "trained_on_deleted"
MODEL_PURGE = "model_destroyed"
"""Reason of the purge of a destroyed version's files."""


def condemned(session: Session) -> list[ModelVersion]:
    """Versions not yet destroyed whose lineage holds a deleted recording, oldest first."""
    tainted = select(Lineage.version_id).where(Lineage.deleted_at.is_not(None))
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.id.in_(tainted), ModelVersion.destroyed_at.is_(None))
            .order_by(ModelVersion.kind, ModelVersion.number)
        )
    )


def condemned_by(session: Session, recording_ids: list[str]) -> list[str]:
    """Ids of the not-yet-destroyed versions that ``recording_ids`` trained."""
    trained = select(Lineage.version_id).where(Lineage.recording_id.in_(recording_ids))
    return list(
        session.scalars(
            select(ModelVersion.id).where(
                ModelVersion.id.in_(trained), ModelVersion.destroyed_at.is_(None)
            )
        )
    )


def destroy(session: Session, version: ModelVersion, *, now: datetime) -> None:
    """Retire ``version`` and schedule the removal of its files (in the caller's transaction)."""
    retire(session, version.id, actor=ACTOR, because=DESTROYED_BECAUSE, now=now)
    version.destroyed_at = now
    purges.schedule(session, Target.PATH, [version.path], reason=MODEL_PURGE, now=now)
    audit.append(
        session,
        actor=ACTOR,
        action="learn.destroy",
        subject=version.id,
        reason=DESTROYED_BECAUSE,
        now=now,
        details={"path": version.path},
    )


def forget_deleted(platform: Platform, now: datetime | None = None) -> list[str]:
    """The sweep step: destroy every version trained on a deleted recording; their ids."""
    when = now or utcnow()
    with transaction(platform.sessions) as session:
        doomed = condemned(session)
        for version in doomed:
            destroy(session, version, now=when)
        return [v.id for v in doomed]
