"""The two sign-in steps, password then code, for staff (by pseudonym) and customers (by e-mail).

Every failure looks the same to the caller: an unknown name, a wrong password, a disabled or locked
account and a spent code all give ``FAILED``; only ``THROTTLED`` is told apart, and it is decided
on the submitted name and the client address alone, so it says nothing about whether an account
exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..identity.models import HouseholdIdentity
from ..identity.service import email_index
from ..server_secrets import ServerSecrets
from . import _credentials as cred
from .models import CustomerAccount, StaffUser
from .secrets import AccountKeys
from .service import confirm_totp, customer_principal, normalise_pseudonym, staff_principal
from .settings import AccountSettings


class Outcome(StrEnum):
    """What a sign-in step came to."""

    OK = "ok"
    FAILED = "failed"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class LoginContext:
    """Everything a sign-in step needs besides the database and the submitted values."""

    keys: AccountKeys
    settings: AccountSettings
    client: str
    """The client's address, for the per-address limit."""
    now: datetime


def _limited(db: Session, ctx: LoginContext, account_name: str) -> bool:
    return not cred.within_limits(
        db, ctx.keys, ctx.settings, client=ctx.client, account_name=account_name, now=ctx.now
    )


def staff_password(
    db: Session, ctx: LoginContext, *, username: str, password: str
) -> tuple[Outcome, StaffUser | None]:
    """Check a staff password; on OK the caller starts a session that still needs the code."""
    name = normalise_pseudonym(username)
    if _limited(db, ctx, f"staff:{name}"):
        return Outcome.THROTTLED, None
    staff = db.scalars(select(StaffUser).where(StaffUser.pseudonym == name)).first()
    usable = staff is not None and staff.disabled_at is None and staff.has_totp
    ok = cred.check_password(
        db,
        staff if usable else None,
        password,
        settings=ctx.settings,
        who=staff_principal(staff) if staff is not None and usable else None,
        now=ctx.now,
    )
    return (Outcome.OK, staff) if ok else (Outcome.FAILED, None)


def staff_code(db: Session, ctx: LoginContext, *, staff_id: str, code: str) -> Outcome:
    """Check the second factor of a staff user whose password was accepted."""
    staff = db.get(StaffUser, staff_id)
    if staff is None or _limited(db, ctx, f"staff:{staff.pseudonym}"):
        return Outcome.THROTTLED if staff is not None else Outcome.FAILED
    if staff.disabled_at is not None:
        return Outcome.FAILED
    who = staff_principal(staff)
    if not cred.check_code(
        db,
        staff,
        code,
        keys=ctx.keys,
        settings=ctx.settings,
        who=who,
        account_id=staff.id,
        now=ctx.now,
    ):
        return Outcome.FAILED
    cred.succeed(db, staff, who=who, now=ctx.now)
    return Outcome.OK


def find_customer(db: Session, secrets: ServerSecrets, email: str) -> CustomerAccount | None:
    """The customer account whose household's login e-mail is ``email``, or None."""
    household_id = db.scalar(
        select(HouseholdIdentity.household_id).where(
            HouseholdIdentity.email_index == email_index(secrets, email)
        )
    )
    if household_id is None:
        return None
    return db.scalars(
        select(CustomerAccount).where(CustomerAccount.household_id == household_id)
    ).first()


def customer_password(
    db: Session, ctx: LoginContext, secrets: ServerSecrets, *, email: str, password: str
) -> tuple[Outcome, CustomerAccount | None]:
    """Check a customer password; a customer without a second factor is signed in completely."""
    if _limited(db, ctx, f"customer:{email.strip().lower()}"):
        return Outcome.THROTTLED, None
    account = find_customer(db, secrets, email)
    who = customer_principal(account) if account is not None else None
    if not cred.check_password(db, account, password, settings=ctx.settings, who=who, now=ctx.now):
        return Outcome.FAILED, None
    assert account is not None and who is not None  # check_password is False without an account
    if not account.has_totp:
        cred.succeed(db, account, who=who, now=ctx.now)
    return Outcome.OK, account


def customer_code(db: Session, ctx: LoginContext, *, account_id: str, code: str) -> Outcome:
    """Check the second factor of a customer whose password was accepted."""
    account = db.get(CustomerAccount, account_id)
    if account is None:
        return Outcome.FAILED
    if _limited(db, ctx, f"customer-code:{account.id}"):
        return Outcome.THROTTLED
    who = customer_principal(account)
    if not cred.check_code(
        db,
        account,
        code,
        keys=ctx.keys,
        settings=ctx.settings,
        who=who,
        account_id=account.id,
        now=ctx.now,
    ):
        return Outcome.FAILED
    cred.succeed(db, account, who=who, now=ctx.now)
    return Outcome.OK


def finish_staff_enrolment(db: Session, ctx: LoginContext, *, staff_id: str, code: str) -> Outcome:
    """Confirm a new staff user's authenticator with a code; on OK they are signed in."""
    staff = db.get(StaffUser, staff_id)
    if staff is None or staff.disabled_at is not None:
        return Outcome.FAILED
    if _limited(db, ctx, f"staff:{staff.pseudonym}"):
        return Outcome.THROTTLED
    who = staff_principal(staff)
    if not confirm_totp(db, staff, code, keys=ctx.keys, who=who, now=ctx.now):
        return Outcome.FAILED
    cred.succeed(db, staff, who=who, now=ctx.now)
    return Outcome.OK


def enable_customer_totp(db: Session, ctx: LoginContext, *, account_id: str, code: str) -> Outcome:
    """Confirm a customer's new authenticator with a code; later sign-ins will ask for one."""
    account = db.get(CustomerAccount, account_id)
    if account is None:
        return Outcome.FAILED
    if _limited(db, ctx, f"customer-code:{account.id}"):
        return Outcome.THROTTLED
    ok = confirm_totp(
        db, account, code, keys=ctx.keys, who=customer_principal(account), now=ctx.now
    )
    return Outcome.OK if ok else Outcome.FAILED
