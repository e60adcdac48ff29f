"""Checks shared by staff and customer sign-in: limits, lockout, password, second factor, audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from .. import audit
from . import ratelimit, totp
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


def _keys(keys: AccountKeys, client: str, account_name: str) -> tuple[bytes, bytes]:
    # The account limit is kept per address, so a stranger elsewhere cannot use it to lock the
    # account's owner out (docs/accounts.md, "Limits and lockout").
    by_client = ratelimit.attempt_key(keys, "ip", client)
    by_account = ratelimit.attempt_key(keys, "account", f"{account_name}@{client}")
    return by_client, by_account


def over_limits(
    db: Session,
    keys: AccountKeys,
    settings: AccountSettings,
    *,
    client: str,
    account_name: str,
    now: datetime,
) -> bool:
    """True when this address, or this address against this account name, failed too often."""
    by_client, by_account = _keys(keys, client, account_name)
    return ratelimit.reached(
        db, by_client, limit=settings.login_ip_max_attempts, window_s=settings.login_ip_window_s,
        now=now,
    ) or ratelimit.reached(
        db,
        by_account,
        limit=settings.login_account_max_attempts,
        window_s=settings.login_account_window_s,
        now=now,
    )


def count_failure(
    db: Session,
    keys: AccountKeys,
    settings: AccountSettings,
    *,
    client: str,
    account_name: str,
    now: datetime,
) -> None:
    """Count one failed attempt against the address and against the account name from it."""
    by_client, by_account = _keys(keys, client, account_name)
    ratelimit.record(db, by_client, window_s=settings.login_ip_window_s, now=now)
    ratelimit.record(db, by_account, window_s=settings.login_account_window_s, now=now)


def is_locked(account: Credentials, now: datetime) -> bool:
    """True while a lockout runs."""
    return account.locked_until is not None and account.locked_until > now


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
    """Count a failed code; at the threshold lock the account and audit the lockout.

    Only second-factor failures lock: they need the right password first, so a stranger who
    knows a sign-in name cannot lock its owner out. Wrong passwords are limited per address.
    """
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
