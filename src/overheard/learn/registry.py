"""Model versions: registered with their lineage, approved by a lead, retired, and found by the pipeline.

Every version records which reviewed clips trained it (``learn_lineage``). When a recording is
deleted, the deletion hook stamps ``deleted_at`` on its lineage rows: the versions it trained are
*affected* and the deletion receipt counts them. ``train … --exclude-deleted`` trains a successor
without them; whether the affected version is retired then is a setting (``retire_on_retrain``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..db import utcnow
from ..errors import NotFound
from ..recordings.models import Tombstone
from .models import Lineage, ModelKind, ModelVersion, VersionState


def lineage_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of the sorted ``recording:annotation`` pairs (names the training data exactly)."""
    lines = sorted(f"{r}:{a}" for r, a in pairs)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def next_number(session: Session, kind: ModelKind) -> int:
    """The counter of the next version of ``kind``."""
    return (
        int(
            session.scalar(
                select(func.max(ModelVersion.number)).where(ModelVersion.kind == kind.value)
            )
            or 0
        )
        + 1
    )


def version_id(kind: ModelKind, number: int) -> str:
    """``asr-0001`` style id."""
    return f"{kind.value}-{number:04d}"


def register_version(
    session: Session,
    kind: ModelKind,
    *,
    number: int,
    path: Path,
    lineage: Sequence[tuple[str, str]],
    params: dict[str, Any],
    actor: str,
    supersedes: str | None = None,
    now: datetime | None = None,
) -> ModelVersion:
    """Record a trained model (a candidate until a lead approves it) and the clips that trained it."""
    when = now or utcnow()
    version = ModelVersion(
        id=version_id(kind, number),
        kind=kind.value,
        number=number,
        path=str(path),
        created_at=when,
        created_by=actor,
        params=params,
        lineage_sha256=lineage_digest(lineage),
        trained_on=len(lineage),
        supersedes=supersedes,
    )
    session.add(version)
    session.flush()
    session.add_all(
        Lineage(version_id=version.id, recording_id=r, annotation_id=a) for r, a in lineage
    )
    audit.append(
        session,
        actor=actor,
        action="learn.register",
        subject=version.id,
        details={"trained_on": len(lineage), "lineage_sha256": version.lineage_sha256},
        now=when,
    )
    session.flush()
    return version


def get_version(session: Session, vid: str) -> ModelVersion:
    """A model version by id; NotFound otherwise."""
    version = session.get(ModelVersion, vid)
    if version is None:
        raise NotFound(f"no model version {vid}", code="model_version_not_found")
    return version


def retire(
    session: Session, vid: str, *, actor: str, because: str, now: datetime | None = None
) -> ModelVersion:
    """Take a version out of use for good."""
    version = get_version(session, vid)
    when = now or utcnow()
    if version.state != VersionState.RETIRED.value:
        version.state, version.retired_at, version.retired_because = (
            VersionState.RETIRED.value,
            when,
            because,
        )
        audit.append(
            session, actor=actor, action="learn.retire", subject=vid, reason=because, now=when
        )
    return version


def list_versions(session: Session, kind: ModelKind | None = None) -> list[ModelVersion]:
    """Every version (of ``kind``), oldest first."""
    query = select(ModelVersion).order_by(ModelVersion.kind, ModelVersion.number)
    if kind is not None:
        query = query.where(ModelVersion.kind == kind.value)
    return list(session.scalars(query))


def deleted_in_lineage(session: Session, vid: str) -> list[str]:
    """Recordings that trained ``vid`` and have since been deleted."""
    return list(
        session.scalars(
            select(Lineage.recording_id).where(
                Lineage.version_id == vid, Lineage.deleted_at.is_not(None)
            )
        )
    )


def mark_deleted(session: Session, recording_ids: list[str], now: datetime) -> list[str]:
    """Stamp the lineage of deleted recordings; the versions they trained (sorted)."""
    affected = sorted(
        set(
            session.scalars(
                select(Lineage.version_id).where(
                    Lineage.recording_id.in_(recording_ids), Lineage.deleted_at.is_(None)
                )
            )
        )
    )
    session.execute(
        update(Lineage)
        .where(Lineage.recording_id.in_(recording_ids), Lineage.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected


def versions_affected_by_receipt(session: Session, receipt_id: str) -> list[str]:
    """Model versions trained on any recording a deletion receipt removed (for the receipt page)."""
    deleted = select(Tombstone.recording_id).where(Tombstone.receipt_id == receipt_id)
    return sorted(
        set(session.scalars(select(Lineage.version_id).where(Lineage.recording_id.in_(deleted))))
    )
