"""Checks shared by staff and customer sign-in: limits, lockout, password, second factor, audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from .. import audit
from . import passwords, ratelimit, totp
from .models import Credentials
from .secrets import AccountKeys
from .settings import AccountSettings


@dataclass(frozen=True)
class Principal:
    """How an account appears in the audit log."""

    actor: str
    subject: str
    household_id: str | None = None

    def record(self, db: Session, action: str, now: datetime, **details: object) -> None:
        """Append ``action`` by this account to the audit log, in ``db``'s transaction."""
        audit.append(
            db,
            actor=self.actor,
            action=action,
            subject=self.subject,
            household_id=self.household_id,
            details=details or None,
            now=now,
        )


def within_limits(
    db: Session,
    keys: AccountKeys,
    settings: AccountSettings,
    *,
    client: str,
    account_name: str,
    now: datetime,
) -> bool:
    """Count one attempt against the client address and the account name; False past either limit."""
    by_client = ratelimit.allow(
        db,
        ratelimit.attempt_key(keys, "ip", client),
        limit=settings.login_ip_max_attempts,
        window_s=settings.login_ip_window_s,
        now=now,
    )
    by_account = ratelimit.allow(
        db,
        ratelimit.attempt_key(keys, "account", account_name),
        limit=settings.login_account_max_attempts,
        window_s=settings.login_account_window_s,
        now=now,
    )
    return by_client and by_account


def is_locked(account: Credentials, now: datetime) -> bool:
    """True while a lockout runs."""
    return account.locked_until is not None and account.locked_until > now


def check_password(
    db: Session,
    account: Credentials | None,
    password: str,
    *,
    settings: AccountSettings,
    who: Principal | None,
    now: datetime,
) -> bool:
    """Verify ``password`` (always hashing, so time says nothing); count and lock on failure."""
    stored = account.password_hash if account is not None else None
    ok = passwords.verify_password(settings, stored, password)
    if account is None or who is None:
        return False
    if is_locked(account, now):
        return False
    if not ok:
        fail(db, account, settings=settings, who=who, now=now)
        return False
    if stored is not None and passwords.needs_rehash(settings, stored):
        account.password_hash = passwords.hash_password(settings, password)
    return True


def check_code(
    db: Session,
    account: Credentials,
    code: str,
    *,
    keys: AccountKeys,
    settings: AccountSettings,
    who: Principal,
    account_id: str,
    now: datetime,
) -> bool:
    """Verify a second-factor code, refusing one already used; count, audit and lock on failure."""
    if account.totp_sealed is None or is_locked(account, now):
        return False
    secret = totp.open_secret(keys, account.totp_sealed, account_id=account_id)
    step = totp.matching_step(secret, code, now=now, after_step=account.totp_last_step)
    if step is None:
        who.record(db, "account.mfa_failure", now)
        fail(db, account, settings=settings, who=who, now=now)
        return False
    account.totp_last_step = step
    return True


def fail(
    db: Session,
    account: Credentials,
    *,
    settings: AccountSettings,
    who: Principal,
    now: datetime,
) -> None:
    """Count a failure; at the threshold lock the account and audit the lockout."""
    account.failed_logins += 1
    if account.failed_logins >= settings.lockout_threshold:
        account.locked_until = now + timedelta(seconds=settings.lockout_s)
        account.failed_logins = 0
        who.record(db, "account.lockout", now, seconds=settings.lockout_s)
    db.flush()


def succeed(db: Session, account: Credentials, *, who: Principal, now: datetime) -> None:
    """A complete sign-in: clear the failure count and audit the login."""
    account.failed_logins = 0
    account.locked_until = None
    who.record(db, "account.login", now)
