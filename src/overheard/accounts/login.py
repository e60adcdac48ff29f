"""The two sign-in steps, password then code, for staff (by pseudonym) and customers (by e-mail).

Every failure looks the same to the caller: an unknown name, a wrong password, a disabled or locked
account and a spent code all give ``FAILED``; only ``THROTTLED`` is told apart, and it is decided
on the submitted name and the client address alone, so it says nothing about whether an account
exists.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..db import transaction
from ..identity.models import HouseholdIdentity
from ..identity.service import email_index
from ..server_secrets import ServerSecrets
from . import _credentials as cred
from . import passwords
from .models import Credentials, CustomerAccount, StaffUser
from .secrets import AccountKeys
from .service import (
    confirm_totp,
    customer_principal,
    enrolment_open,
    normalise_pseudonym,
    staff_principal,
)
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
    slot: Callable[[], AbstractContextManager[object]] = nullcontext
    """Held while a password is hashed; bounds how many hash at once (raises ``ServiceBusy``)."""


def _limited(db: Session, ctx: LoginContext, account_name: str) -> bool:
    return cred.over_limits(
        db, ctx.keys, ctx.settings, client=ctx.client, account_name=account_name, now=ctx.now
    )


def _count_failure(db: Session, ctx: LoginContext, account_name: str) -> None:
    cred.count_failure(
        db, ctx.keys, ctx.settings, client=ctx.client, account_name=account_name, now=ctx.now
    )


def _verify(ctx: LoginContext, stored: str | None, password: str) -> tuple[bool, str | None]:
    """Check ``password`` (always hashing) outside any transaction; a new hash if one is due."""
    with ctx.slot():
        ok = passwords.verify_password(ctx.settings, stored, password)
        if ok and stored is not None and passwords.needs_rehash(ctx.settings, stored):
            return True, passwords.hash_password(ctx.settings, password)
    return ok, None


def _settle(
    sessions: sessionmaker[Session],
    ctx: LoginContext,
    scope: str,
    account: Credentials | None,
    outcome: tuple[bool, str | None],
) -> bool:
    """Record a failure, or store a fresh hash; True when the password step succeeded."""
    ok, new_hash = outcome
    if ok and account is not None and new_hash is None:
        return True  # nothing to write
    with transaction(sessions) as db:
        if not ok or account is None:
            _count_failure(db, ctx, scope)
            return False
        row = db.get(type(account), account.id)
        if row is not None:
            row.password_hash = new_hash
    return True


def staff_password(
    readers: sessionmaker[Session],
    writers: sessionmaker[Session],
    ctx: LoginContext,
    *,
    username: str,
    password: str,
) -> tuple[Outcome, StaffUser | None]:
    """Check a staff password; on OK the caller starts a session that still needs the code (or,
    for a staff member who has not set up an authenticator yet, the set-up).

    The hash is checked with no database transaction open, so a burst of sign-ins never holds
    up the review loop's writes; only the failure count (or a rehash) is written afterwards.
    """
    scope = f"staff:{normalise_pseudonym(username)}"
    with readers() as db:
        if _limited(db, ctx, scope):
            return Outcome.THROTTLED, None
        staff = db.scalars(
            select(StaffUser).where(StaffUser.pseudonym == normalise_pseudonym(username))
        ).first()
    usable = (
        staff is not None
        and staff.disabled_at is None
        and (staff.has_totp or enrolment_open(staff, ctx.now))
        and not cred.is_locked(staff, ctx.now)
    )
    checked = _verify(ctx, staff.password_hash if staff is not None and usable else None, password)
    if not _settle(writers, ctx, scope, staff if usable else None, checked):
        return Outcome.FAILED, None
    return Outcome.OK, staff


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
        _count_failure(db, ctx, f"staff:{staff.pseudonym}")
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
    readers: sessionmaker[Session],
    writers: sessionmaker[Session],
    ctx: LoginContext,
    secrets: ServerSecrets,
    *,
    email: str,
    password: str,
) -> tuple[Outcome, CustomerAccount | None]:
    """Check a customer password (no transaction open while hashing); a customer without a
    second factor is signed in completely."""
    scope = f"customer:{email.strip().lower()}"
    with readers() as db:
        if _limited(db, ctx, scope):
            return Outcome.THROTTLED, None
        account = find_customer(db, secrets, email)
    usable = account is not None and not cred.is_locked(account, ctx.now)
    stored = account.password_hash if account is not None and usable else None
    if not _settle(writers, ctx, scope, account if usable else None, _verify(ctx, stored, password)):
        return Outcome.FAILED, None
    assert account is not None
    if not account.has_totp:
        with transaction(writers) as db:
            row = db.get(CustomerAccount, account.id)
            if row is not None:
                cred.succeed(db, row, who=customer_principal(account), now=ctx.now)
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
        _count_failure(db, ctx, f"customer-code:{account.id}")
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
        _count_failure(db, ctx, f"staff:{staff.pseudonym}")
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
    if not ok:
        _count_failure(db, ctx, f"customer-code:{account.id}")
    return Outcome.OK if ok else Outcome.FAILED
