"""A lead's approval of a model version: the one step of the registry that needs staff accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..accounts import login
from ..accounts.models import Role
from ..accounts.secrets import AccountKeys
from ..accounts.service import get_staff
from ..accounts.settings import AccountSettings
from ..db import transaction, utcnow
from ..errors import Conflict, Forbidden
from ..platform import Platform
from .models import ModelVersion, VersionState
from .registry import deleted_in_lineage, get_version

APPROVER_ROLES = frozenset({Role.LEAD.value})
"""Staff roles that may approve a model version for the pipeline."""
CLI_CLIENT = "cli"
"""The client address sign-in limits count command-line approvals under."""


def verify_staff(
    platform: Platform,
    *,
    pseudonym: str,
    password: str,
    code: str,
    keys: AccountKeys,
    settings: AccountSettings,
    now: datetime | None = None,
) -> str | None:
    """The staff id of whoever proves to be ``pseudonym`` (password + authenticator code), or None.

    Counts toward the same limits and lockout as a web sign-in (each step commits on its own).
    """
    ctx = login.LoginContext(keys, settings, CLI_CLIENT, now or utcnow())
    outcome, staff = login.staff_password(
        platform.readers, platform.sessions, ctx, username=pseudonym, password=password
    )
    if outcome is not login.Outcome.OK or staff is None:
        return None
    with transaction(platform.sessions) as session:
        outcome = login.staff_code(session, ctx, staff_id=staff.id, code=code)
    return staff.id if outcome is login.Outcome.OK else None


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
    if deleted_in_lineage(session, vid):
        # The deletion receipt names it for the sweep to destroy: it would bring the deleted
        # clips' words into the pipeline meanwhile.
        raise Conflict(
            f"{vid} was trained on recordings deleted since; retrain with --exclude-deleted",
            code="trained_on_deleted",
        )
    when = now or utcnow()
    version.state, version.approved_by, version.approved_at = (
        VersionState.APPROVED.value,
        staff.pseudonym,
        when,
    )
    audit.append(session, actor=staff.pseudonym, action="learn.approve", subject=vid, now=when)
    return version
