"""Account lifecycle: creating and enrolling staff, roles, disabling; inviting customers.

Every change is audited in the caller's transaction. Tokens handed out here (enrolment links,
invitations) are returned once and stored only as their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import utcnow
from ..errors import BadRequest, NotFound
from ..households import Household, new_pseudonym
from . import passwords, sessions, totp
from ._credentials import Principal
from .models import Credentials, CustomerAccount, Role, StaffUser
from .secrets import AccountKeys
from .settings import ENROLMENT_TOKEN_TTL_S, INVITE_TOKEN_TTL_S, AccountSettings

TOKEN_BYTES = 32
"""Random bytes in an enrolment or invitation token (256 bits)."""
PSEUDONYM_PREFIX = "R-"
PSEUDONYM_HEX_DIGITS = 4
"""Hex digits of a fresh pseudonym; more are used once a few draws collide."""
PSEUDONYM_TRIES = 16
"""Draws at one length before the pseudonym grows by two digits."""


def hash_token(token: str) -> bytes:
    """SHA-256 of a one-time token (256 random bits: no salt or stretching needed)."""
    return hashlib.sha256(token.encode()).digest()


def staff_principal(staff: StaffUser) -> Principal:
    """How ``staff`` appears in the audit log: by pseudonym, never by name."""
    return Principal(actor=f"staff:{staff.pseudonym}", subject=staff.id)


def customer_principal(account: CustomerAccount) -> Principal:
    """How a customer appears in the audit log."""
    return Principal(actor="customer", subject=account.id, household_id=account.household_id)


def normalise_pseudonym(text: str) -> str:
    """``r-7F3A`` -> ``R-7f3a``, the form pseudonyms are stored in."""
    body = text.strip()
    if body[:2].upper() != PSEUDONYM_PREFIX:
        return body
    return PSEUDONYM_PREFIX + body[2:].lower()


def _new_staff_pseudonym(db: Session) -> str:
    digits = PSEUDONYM_HEX_DIGITS
    while True:
        for _ in range(PSEUDONYM_TRIES):
            candidate = PSEUDONYM_PREFIX + secrets.token_hex(digits // 2 + 1)[:digits]
            if db.scalar(select(StaffUser.id).where(StaffUser.pseudonym == candidate)) is None:
                return candidate
        digits += 2


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise BadRequest(f"unknown role {role!r}; one of {known}", code="unknown_role") from None


def create_staff(
    session: Session,
    *,
    name: str,
    role: str,
    actor: str = "cli",
    now: datetime | None = None,
    ttl_s: float = ENROLMENT_TOKEN_TTL_S,
) -> tuple[StaffUser, str]:
    """A new staff user and their one-time enrolment token (valid ``ttl_s`` seconds)."""
    when = now or utcnow()
    display = name.strip()
    if not display:
        raise BadRequest("a staff user needs a name", code="missing_name")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    staff = StaffUser(
        id=new_pseudonym("st"),
        pseudonym=_new_staff_pseudonym(session),
        display_name=display,
        role=_role(role).value,
        enrol_token_hash=hash_token(token),
        enrol_expires_at=when + timedelta(seconds=ttl_s),
        created_at=when,
    )
    session.add(staff)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="staff.create",
        subject=staff.id,
        details={"role": staff.role, "pseudonym": staff.pseudonym},
        now=when,
    )
    return staff, token


def create_staff_batch(
    session: Session,
    wanted: Sequence[tuple[str, str]],
    *,
    actor: str = "cli",
    now: datetime | None = None,
) -> list[tuple[StaffUser, str]]:
    """Create every ``(name, role)`` in one transaction (all or none; each audited); every row is
    checked before any is written, so a bad row names its line and nothing is created."""
    for line, (name, role) in enumerate(wanted, start=2):
        if not name.strip():
            raise BadRequest(f"row {line}: a staff user needs a name", code="missing_name")
        try:
            _role(role)
        except BadRequest as exc:
            raise BadRequest(f"row {line}: {exc.message}", code=exc.code) from None
    when = now or utcnow()
    return [create_staff(session, name=n, role=r, actor=actor, now=when) for n, r in wanted]


def get_staff(session: Session, staff_id: str) -> StaffUser:
    """The staff user ``staff_id`` (by id or pseudonym)."""
    staff = (
        session.get(StaffUser, staff_id)
        or session.scalars(
            select(StaffUser).where(StaffUser.pseudonym == normalise_pseudonym(staff_id))
        ).first()
    )
    if staff is None:
        raise NotFound(f"no staff user {staff_id}", code="staff_not_found")
    return staff


def list_staff(session: Session) -> Sequence[StaffUser]:
    """Every staff user, oldest first."""
    return session.scalars(select(StaffUser).order_by(StaffUser.created_at, StaffUser.id)).all()


def disable_staff(
    session: Session, staff_id: str, *, actor: str = "cli", now: datetime | None = None
) -> StaffUser:
    """Disable a staff user; their sessions end at once."""
    staff = get_staff(session, staff_id)
    if staff.disabled_at is None:
        staff.disabled_at = now or utcnow()
    sessions.destroy_for_staff(session, staff.id)
    audit.append(session, actor=actor, action="staff.disable", subject=staff.id, now=now)
    return staff


def set_role(session: Session, staff_id: str, role: str, *, actor: str = "cli") -> StaffUser:
    """Give a staff user another role (it applies to their next request)."""
    staff = get_staff(session, staff_id)
    new, old = _role(role).value, staff.role
    staff.role = new
    audit.append(
        session,
        actor=actor,
        action="staff.set_role",
        subject=staff.id,
        details={"from": old, "to": new},
    )
    return staff


def reissue_enrolment(
    session: Session,
    staff_id: str,
    *,
    actor: str = "cli",
    now: datetime | None = None,
    ttl_s: float = ENROLMENT_TOKEN_TTL_S,
) -> tuple[StaffUser, str]:
    """Reset a staff user's password and second factor; returns a new one-time enrolment token."""
    when = now or utcnow()
    staff = get_staff(session, staff_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    staff.enrol_token_hash, staff.enrol_expires_at = (
        hash_token(token),
        when + timedelta(seconds=ttl_s),
    )
    _clear_credentials(staff)
    sessions.destroy_for_staff(session, staff.id)
    audit.append(session, actor=actor, action="staff.reenrol", subject=staff.id, now=when)
    return staff, token


def _clear_credentials(account: Credentials) -> None:
    account.password_hash = None
    account.totp_sealed, account.totp_confirmed_at = None, None
    account.failed_logins, account.locked_until = 0, None


def staff_for_enrolment(session: Session, token: str, *, now: datetime) -> StaffUser | None:
    """The active staff user whose unexpired enrolment token ``token`` is, or None."""
    staff = session.scalars(
        select(StaffUser).where(StaffUser.enrol_token_hash == hash_token(token))
    ).first()
    if staff is None or staff.disabled_at is not None or staff.enrol_expires_at is None:
        return None
    return staff if staff.enrol_expires_at > now else None


def choose_staff_password(
    session: Session, staff: StaffUser, password: str, *, settings: AccountSettings
) -> None:
    """Set the first password and spend the enrolment token (the second factor comes next).

    The enrolment deadline stays: until it passes, signing in with this password resumes the
    authenticator set-up, so leaving the set-up page (or signing out of it) strands no one.
    """
    passwords.check_policy(
        settings, password, personal=_personal(staff.display_name, staff.pseudonym)
    )
    staff.password_hash = passwords.hash_password(settings, password)
    staff.enrol_token_hash = None
    session.flush()


def enrolment_open(staff: StaffUser, now: datetime) -> bool:
    """True while ``staff`` has a password but no second factor and the enrolment deadline holds."""
    return (
        not staff.has_totp
        and staff.password_hash is not None
        and staff.enrol_expires_at is not None
        and staff.enrol_expires_at > now
    )


def _personal(*names: str) -> tuple[str, ...]:
    return tuple(part for name in names for part in (name, *name.split()))


def pending_totp_secret(
    session: Session, account: StaffUser | CustomerAccount, keys: AccountKeys
) -> str:
    """The secret being enrolled for ``account``, created (sealed) on first use."""
    if account.has_totp:
        raise BadRequest("a second factor is already set up", code="totp_exists")
    if account.totp_sealed is None:
        account.totp_sealed = totp.seal_secret(keys, totp.new_secret(), account_id=account.id)
        session.flush()
    return totp.open_secret(keys, account.totp_sealed, account_id=account.id)


def confirm_totp(
    session: Session,
    account: StaffUser | CustomerAccount,
    code: str,
    *,
    keys: AccountKeys,
    who: Principal,
    now: datetime,
) -> bool:
    """Finish enrolling a second factor with a valid code; False for a wrong code."""
    if account.totp_sealed is None or account.has_totp:
        return False
    secret = totp.open_secret(keys, account.totp_sealed, account_id=account.id)
    step = totp.matching_step(secret, code, now=now, after_step=account.totp_last_step)
    if step is None:
        return False
    account.totp_last_step, account.totp_confirmed_at = step, now
    if isinstance(account, StaffUser):
        account.enrol_expires_at = None
    who.record(session, "account.mfa_enrol", now)
    return True


def invite_customer(
    session: Session,
    household_id: str,
    *,
    actor: str = "cli",
    now: datetime | None = None,
    ttl_s: float = INVITE_TOKEN_TTL_S,
) -> str:
    """A one-time invitation for the owner of ``household_id`` to set a password (valid ``ttl_s``)."""
    when = now or utcnow()
    if session.get(Household, household_id) is None:
        raise NotFound(f"no household {household_id}", code="household_not_found")
    account = session.scalars(
        select(CustomerAccount).where(CustomerAccount.household_id == household_id)
    ).first()
    if account is None:
        account = CustomerAccount(
            id=new_pseudonym("ca"), household_id=household_id, created_at=when
        )
        session.add(account)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    account.invite_token_hash = hash_token(token)
    account.invite_expires_at = when + timedelta(seconds=ttl_s)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="customer.invite",
        subject=account.id,
        household_id=household_id,
        now=when,
    )
    return token


def customer_for_invite(session: Session, token: str, *, now: datetime) -> CustomerAccount | None:
    """The account whose unexpired invitation ``token`` is, or None."""
    account = session.scalars(
        select(CustomerAccount).where(CustomerAccount.invite_token_hash == hash_token(token))
    ).first()
    if account is None or account.invite_expires_at is None:
        return None
    return account if account.invite_expires_at > now else None


def accept_invite(
    session: Session,
    account: CustomerAccount,
    password: str,
    *,
    settings: AccountSettings,
    now: datetime,
) -> None:
    """Set the customer's password and spend the invitation."""
    passwords.check_policy(settings, password)
    account.password_hash = passwords.hash_password(settings, password)
    account.invite_token_hash, account.invite_expires_at = None, None
    account.failed_logins, account.locked_until = 0, None
    sessions.destroy_for_customer(session, account.id)
    customer_principal(account).record(session, "customer.accept_invite", now)
