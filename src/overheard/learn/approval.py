"""A lead's approval of a model version: the one step of the registry that needs staff accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..accounts.models import Role
from ..accounts.service import get_staff
from ..db import utcnow
from ..errors import Conflict, Forbidden
from .models import ModelVersion, VersionState
from .registry import get_version

APPROVER_ROLES = frozenset({Role.LEAD.value})
"""Staff roles that may approve a model version for the pipeline."""


def approve(
    session: Session, vid: str, staff_id: str, *, now: datetime | None = None
) -> ModelVersion:
    """A lead approves a candidate: the pipeline uses the newest approved version of each kind."""
    staff = get_staff(session, staff_id)
    if staff.role not in APPROVER_ROLES or staff.disabled_at is not None:
        raise Forbidden("only an active lead may approve a model version", code="not_a_lead")
    version = get_version(session, vid)
    if version.state != VersionState.CANDIDATE.value:
        raise Conflict(f"{vid} is {version.state}, not a candidate", code="not_a_candidate")
    when = now or utcnow()
    version.state, version.approved_by, version.approved_at = (
        VersionState.APPROVED.value,
        staff.pseudonym,
        when,
    )
    audit.append(session, actor=staff.pseudonym, action="learn.approve", subject=vid, now=when)
    return version
