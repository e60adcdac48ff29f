"""Sliding-window limits on failed sign-in attempts, in the database so every web process shares them.

Only failures are counted: a person who signs in often is never slowed down. A key's rows older
than its window are removed whenever it fails again.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import LoginAttempt
from .secrets import AccountKeys

ATTEMPT_KEY_BYTES = 16
"""Length of the keyed hash an attempt is stored under."""


def attempt_key(keys: AccountKeys, scope: str, value: str) -> bytes:
    """Keyed hash of ``scope:value`` (an address or account name is never stored in the clear)."""
    message = f"{scope}:{value.strip().lower()}".encode()
    digest = hmac.new(keys.attempts.reveal(), message, hashlib.sha256).digest()
    return digest[:ATTEMPT_KEY_BYTES]


def reached(session: Session, key: bytes, *, limit: int, window_s: float, now: datetime) -> bool:
    """True when ``limit`` failures were recorded under ``key`` within the window (reads only)."""
    cutoff = now - timedelta(seconds=window_s)
    recent = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.key == key, LoginAttempt.at >= cutoff)
    )
    return (recent or 0) >= limit


def record(session: Session, key: bytes, *, window_s: float, now: datetime) -> None:
    """Count one failure under ``key``, forgetting its failures older than the window."""
    cutoff = now - timedelta(seconds=window_s)
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.at < cutoff))
    session.add(LoginAttempt(key=key, at=now))
    session.flush()


def purge(session: Session, *, older_than: datetime) -> int:
    """Forget attempts older than ``older_than``; the number removed."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
