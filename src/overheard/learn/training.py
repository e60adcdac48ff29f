"""What both trainers share: the training side of the reviewed data, and registering the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ..db import transaction, utcnow
from ..platform import Platform
from ..purges import remove_path
from ..recordings.deletion import hold_against_deletion
from .models import ModelKind, ModelVersion, SplitName, VersionState
from .registry import (
    deleted_in_lineage,
    list_versions,
    next_number,
    register_version,
    retire,
    version_id,
)
from .reviewed import Example, open_labels, reviewed_clips
from .split import HELDOUT_PERCENT, assign_splits
from .staging import staged_build
from .working import make_private

RETIRED_BECAUSE = "retrained_without_deleted"


@dataclass(frozen=True)
class TrainOptions:
    """How a training run is done."""

    models_dir: Path
    """Where model versions are written (one folder or file per version)."""
    actor: str = "cli"
    heldout_percent: int = HELDOUT_PERCENT
    """Share of reviewed clips kept for evaluation, percent."""
    include_seed: bool = True
    """Train on the project's seed requests as well as the reviewed clips."""
    exclude_deleted: bool = False
    """Retrain because of deletions: supersede the versions whose training clips were deleted."""
    retire_on_retrain: bool = True
    """With ``exclude_deleted``: retire those versions once the successor is registered."""
    now: datetime | None = None
    extra_examples: tuple[tuple[str, str], ...] = ()
    """NLU only: ``(text, intent)`` pairs from an external labelled file."""
    embeddings: bool | None = None
    """NLU only: add the sentence-embedding classifier (None: whenever the packaged encoder is
    installed)."""


@dataclass(frozen=True)
class TrainResult:
    """A registered model version and what it was trained on."""

    version_id: str
    path: Path
    trained_on: int
    """Reviewed clips (train split) in the training set."""
    retired: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)


def training_examples(
    platform: Platform, session: Session, options: TrainOptions, purpose: str
) -> list[Example]:
    """Reviewed clips on the train side of the split, labels opened through the gate.

    The clips are held against deletion until the run commits its lineage: a deletion meanwhile
    waits and then stamps that lineage (the sweep destroys the version), or it went first and the
    clip is left out.
    """
    clips = reviewed_clips(session)
    held = hold_against_deletion(session, (c.recording_id for c in clips))
    clips = [c for c in clips if c.recording_id in held]
    splits = assign_splits(
        session,
        ((c.recording_id, c.household_id) for c in clips),
        heldout_percent=options.heldout_percent,
        now=options.now,
    )
    train = [c for c in clips if splits[c.recording_id] is SplitName.TRAIN]
    return open_labels(session, platform.gate, train, actor=options.actor, purpose=purpose)


def affected_versions(session: Session, kind: ModelKind) -> list[ModelVersion]:
    """Live versions of ``kind`` trained on a recording that has since been deleted."""
    live = [v for v in list_versions(session, kind) if v.state != VersionState.RETIRED.value]
    return [v for v in live if deleted_in_lineage(session, v.id)]


def train_and_register(
    platform: Platform,
    kind: ModelKind,
    options: TrainOptions,
    build: Callable[[list[Example], Path], dict[str, Any]],
    *,
    suffix: str = "",
) -> TrainResult:
    """Collect the training side, ``build`` the model at its path, register it with its lineage."""
    when = options.now or utcnow()
    written: list[Path] = []
    try:
        return _train_and_register(platform, kind, options, build, suffix, when, written)
    except BaseException:
        for path in written:  # never an unregistered artifact holding what clips said
            remove_path(path)
        raise


def _train_and_register(
    platform: Platform,
    kind: ModelKind,
    options: TrainOptions,
    build: Callable[[list[Example], Path], dict[str, Any]],
    suffix: str,
    when: datetime,
    written: list[Path],
) -> TrainResult:
    with transaction(platform.sessions) as session:
        examples = training_examples(platform, session, options, f"train.{kind.value}")
        number = next_number(session, kind)
        name = f"{version_id(kind, number)}{suffix}"
        path = options.models_dir / name
        # Built under a staging name and a lock, renamed when whole: a build killed even by
        # SIGKILL leaves no artifact the next run or the retention sweep does not remove.
        with staged_build(options.models_dir, name) as staging:
            stats = build(examples, staging)
        written.append(path)
        make_private(path)
        stale = affected_versions(session, kind) if options.exclude_deleted else []
        version = register_version(
            session,
            kind,
            number=number,
            path=path,
            lineage=[(e.clip.recording_id, e.clip.annotation_id) for e in examples],
            params={
                **stats,
                "include_seed": options.include_seed,
                "heldout_percent": options.heldout_percent,
                "exclude_deleted": options.exclude_deleted,
            },
            actor=options.actor,
            supersedes=stale[-1].id if stale else None,
            now=when,
        )
        retired = tuple(
            retire(session, v.id, actor=options.actor, because=RETIRED_BECAUSE, now=when).id
            for v in stale
            if options.retire_on_retrain
        )
    return TrainResult(version.id, path, len(examples), retired, stats)
