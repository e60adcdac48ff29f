"""Server-side web sessions: a random id in an HttpOnly, SameSite=Strict cookie, its hash in a row.

A session ends when it sits idle too long, when it reaches its absolute age, or on logout (the row
is deleted). Its id changes whenever it gains privilege: on the password step and on the second
factor, so an id planted before sign-in is worthless after it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection
from starlette.responses import Response

from .models import SessionKind, Stage, WebSession
from .settings import AccountSettings

COOKIE_NAME = "overheard_session"
SESSION_ID_BYTES = 32
"""Random bytes in a session id (256 bits)."""
TOUCH_INTERVAL_S = 60.0
"""Seconds between writes of ``last_seen_at``; idle time is measured to this precision."""
LOOPBACK_HOSTS = frozenset({"localhost"})


def hash_id(raw_id: str) -> bytes:
    """SHA-256 of a session id; ids carry 256 random bits, so no salt or stretching is needed."""
    return hashlib.sha256(raw_id.encode()).digest()


def start(
    db: Session,
    *,
    kind: SessionKind,
    stage: Stage,
    now: datetime,
    staff_id: str | None = None,
    customer_id: str | None = None,
    created_at: datetime | None = None,
) -> str:
    """A new session row; returns the id for the cookie (never stored)."""
    if (staff_id is None) == (customer_id is None):
        raise ValueError("a session belongs to exactly one staff user or customer account")
    raw_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    db.add(
        WebSession(
            id_hash=hash_id(raw_id),
            kind=kind.value,
            stage=stage.value,
            staff_id=staff_id,
            customer_id=customer_id,
            created_at=created_at or now,
            last_seen_at=now,
        )
    )
    db.flush()
    return raw_id


def rotate(db: Session, row: WebSession, *, stage: Stage, now: datetime) -> str:
    """Replace ``row`` by a session with a new id at ``stage``; the old id stops working."""
    raw_id = start(
        db,
        kind=SessionKind(row.kind),
        stage=stage,
        now=now,
        staff_id=row.staff_id,
        customer_id=row.customer_id,
        created_at=row.created_at,
    )
    db.execute(delete(WebSession).where(WebSession.id_hash == row.id_hash))
    return raw_id


def expired(row: WebSession, settings: AccountSettings, now: datetime) -> bool:
    """True when ``row`` is past its idle, absolute or pending limit."""
    age = (now - row.created_at).total_seconds()
    if row.stage == Stage.PASSWORD:
        return age > settings.session_pending_timeout_s
    idle = (now - row.last_seen_at).total_seconds()
    return idle > settings.session_idle_timeout_s or age > settings.session_absolute_timeout_s


def load(
    db: Session, raw_id: str, *, settings: AccountSettings, now: datetime, touch: bool = True
) -> WebSession | None:
    """The live session with id ``raw_id`` (touched, unless ``touch`` is False: a page's script
    polling is not activity), or None; an expired one is deleted."""
    row = db.get(WebSession, hash_id(raw_id))
    if row is None:
        return None
    if expired(row, settings, now):
        db.delete(row)
        db.flush()
        return None
    if touch and (now - row.last_seen_at).total_seconds() >= TOUCH_INTERVAL_S:
        row.last_seen_at = now
    return row


def peek(
    db: Session, raw_id: str, *, settings: AccountSettings, now: datetime, touch: bool = True
) -> WebSession | None:
    """The live session ``raw_id`` when using it needs no write now (not expired, touched lately).

    None otherwise, also when a touch or a deletion is due: then call :func:`load` in a transaction.
    """
    row = db.get(WebSession, hash_id(raw_id))
    usable = row is not None and usable_now(row, settings=settings, now=now, touch=touch)
    return row if usable else None


def usable_now(
    row: WebSession, *, settings: AccountSettings, now: datetime, touch: bool = True
) -> bool:
    """Whether the session ``row`` is live and needs no write now (not expired, and touched lately
    unless ``touch`` is False)."""
    if expired(row, settings, now):
        return False
    return not touch or (now - row.last_seen_at).total_seconds() < TOUCH_INTERVAL_S


def destroy(db: Session, raw_id: str) -> WebSession | None:
    """Delete the session with id ``raw_id``; the row it was, if any."""
    row = db.get(WebSession, hash_id(raw_id))
    if row is not None:
        db.delete(row)
        db.flush()
    return row


def destroy_for_staff(db: Session, staff_id: str) -> None:
    """End every session of a staff user (on disabling or re-enrolment)."""
    db.execute(delete(WebSession).where(WebSession.staff_id == staff_id))


def destroy_for_customer(db: Session, customer_id: str) -> None:
    """End every session of a customer account (when its password is set anew)."""
    db.execute(delete(WebSession).where(WebSession.customer_id == customer_id))


def purge_expired(db: Session, *, settings: AccountSettings, now: datetime) -> int:
    """Delete every expired session; the number removed."""
    rows = db.scalars(select(WebSession)).all()
    gone = [row for row in rows if expired(row, settings, now)]
    for row in gone:
        db.delete(row)
    db.flush()
    return len(gone)


def cookie_secure(conn: HTTPConnection, settings: AccountSettings) -> bool:
    """Whether cookies get ``Secure``: always, except (``auto``) on a plain http connection that
    comes from a loopback address and names a loopback host.

    The scheme and address are the connection's own, or what a configured proxy forwarded
    (``forwarded_allow_ips``); the Host header alone can only add ``Secure``, never remove it.
    """
    if settings.session_cookie_secure == "always" or conn.url.scheme != "http":
        return True
    peer = conn.client.host if conn.client is not None else ""
    return not (_loopback_address(peer) and _loopback_name(conn.url.hostname or ""))


def _loopback_address(value: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in LOOPBACK_HOSTS or host.endswith(".localhost") or _loopback_address(host)


def set_cookie(response: Response, name: str, value: str, *, secure: bool) -> None:
    """Set a browser-session cookie: HttpOnly, SameSite=Strict, path /."""
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path="/")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    """Tell the browser to forget cookie ``name``."""
    response.delete_cookie(name, httponly=True, samesite="strict", secure=secure, path="/")
