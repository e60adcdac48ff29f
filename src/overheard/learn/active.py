"""Which adapted models the pipeline uses: the newest lead-approved version of each kind.

Kept apart from the registry so the speech pipeline can ask without reaching staff accounts.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..speech.asr import DEFAULT_SPEC, adapted_spec
from .models import ModelKind, ModelVersion, VersionState


def newest_approved(session: Session, kind: ModelKind) -> ModelVersion | None:
    """The approved version of ``kind`` with the highest number, if any."""
    return session.scalars(
        select(ModelVersion)
        .where(ModelVersion.kind == kind.value, ModelVersion.state == VersionState.APPROVED.value)
        .order_by(ModelVersion.number.desc())
        .limit(1)
    ).first()


def active_specs(
    session: Session, recogniser: str = DEFAULT_SPEC
) -> tuple[str | None, Path | None, tuple[str, ...]]:
    """``(asr spec, intent model path, version ids)`` the pipeline should use; None = its default.

    An ASR version folder adapts both families: ``recogniser`` (the configured spec) picks which.
    """
    asr = newest_approved(session, ModelKind.ASR)
    nlu = newest_approved(session, ModelKind.NLU)
    spec = adapted_spec(recogniser, asr.path) if asr is not None else None
    path = Path(nlu.path) if nlu is not None else None
    return spec, path, tuple(v.id for v in (asr, nlu) if v is not None)
