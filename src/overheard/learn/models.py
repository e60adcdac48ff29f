"""Tables of the learning loop: splits, exports and their members, model versions and their lineage.

None holds content. Lineage and membership rows keep recording ids after the recording is deleted
(ids only, like tombstones) so a model version can say which deleted clips trained it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class SplitName(StrEnum):
    """Which side of the train / held-out line a recording is on."""

    TRAIN = "train"
    HELDOUT = "heldout"


class ModelKind(StrEnum):
    """What a model version is."""

    ASR = "asr"
    NLU = "nlu"


class VersionState(StrEnum):
    """Where a model version is in its life."""

    CANDIDATE = "candidate"
    APPROVED = "approved"
    RETIRED = "retired"


class SplitAssignment(Base):
    """A recording's split, fixed the first time it is seen, so evaluation never uses training clips."""

    __tablename__ = "learn_splits"

    recording_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    split: Mapped[str] = mapped_column(String(8), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class Export(Base):
    """One dataset export: where it was written, how, by whom and how many clips."""

    __tablename__ = "learn_exports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    """``sealed`` (per-household encrypted shards) or ``plaintext`` (privacy officer only)."""
    split: Mapped[str] = mapped_column(String(8))
    """``train``, ``heldout`` or ``all``."""
    location: Mapped[str] = mapped_column(String(500))
    dataset_version: Mapped[str] = mapped_column(String(80))
    """``<export id>@<sha256 of the member list, 12 hex>``: names exactly this content."""
    clips: Mapped[int]


class ExportMember(Base):
    """A clip in an export; ``clip_key`` seals the clip inside its shard and is erased on deletion."""

    __tablename__ = "learn_export_members"

    export_id: Mapped[str] = mapped_column(
        ForeignKey("learn_exports.id", ondelete="CASCADE"), primary_key=True
    )
    recording_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    annotation_id: Mapped[str] = mapped_column(String(16))
    household_id: Mapped[str] = mapped_column(String(32))
    shard_id: Mapped[str | None] = mapped_column(String(48), default=None)
    clip_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """The clip's own key sealed under the household key; NULL once the recording is deleted."""
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class WorkingCopy(Base):
    """A plaintext folder the platform wrote from an export (a training run, a plaintext export).

    Removed (by a purge) as soon as any of its export's recordings is deleted, or when it expires.
    """

    __tablename__ = "learn_working_copies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    export_id: Mapped[str] = mapped_column(
        ForeignKey("learn_exports.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1000))
    host: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(16))
    """``training`` (opened from a sealed export) or ``plaintext`` (privacy officer)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the retention sweep removes it anyway; None = only on deletion."""
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    """When its removal was scheduled (a purge finishes it)."""
    removed_because: Mapped[str | None] = mapped_column(String(32), default=None)


class ModelVersion(Base):
    """A trained model: its files, parameters, measured metrics and approval state."""

    __tablename__ = "learn_model_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    """``asr-0001``, ``nlu-0003``, …: kind and a counter, newest highest."""
    kind: Mapped[str] = mapped_column(String(8), index=True)
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=VersionState.CANDIDATE.value, index=True)
    path: Mapped[str] = mapped_column(String(500))
    """Folder (ASR: ``lm.arpa`` + ``words.dict``) or file (NLU: ``.npz``) of the model."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lineage_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the sorted ``recording:annotation`` pairs that trained it."""
    trained_on: Mapped[int]
    """Reviewed clips it was trained on."""
    supersedes: Mapped[str | None] = mapped_column(String(32), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(32), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_because: Mapped[str | None] = mapped_column(String(64), default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    """When its files were scheduled for removal because a training clip was deleted."""


class Lineage(Base):
    """One reviewed clip that trained a model version; ``deleted_at`` is set when it is deleted."""

    __tablename__ = "learn_lineage"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("learn_model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    recording_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    annotation_id: Mapped[str] = mapped_column(String(16))
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
