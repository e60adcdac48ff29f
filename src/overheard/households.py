"""Households and their devices: the pseudonymous tenants every recording belongs to.

Nothing here identifies a person. A household is a random id; a device is a random id and the hash
of its bearer token. Names, account numbers, e-mail addresses and serials live in ``identity``.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import BindParameter, ForeignKey, LargeBinary, Select, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, utcnow
from .errors import NotFound, Unauthorized

TOKEN_PREFIX = "ohd_"  # noqa: S105 (a prefix, not a secret)
TOKEN_BYTES = 24
"""Random bytes in a device token (192 bits)."""


class Retention(StrEnum):
    """How long a household's recordings are kept."""

    UNTIL_DELETED = "until_deleted"
    MONTHS_18 = "18_months"
    MONTHS_3 = "3_months"
    HOURS_24 = "24_hours"


RETENTION_MONTHS = {Retention.MONTHS_18: 18, Retention.MONTHS_3: 3}
RETENTION_SPANS = {Retention.HOURS_24: timedelta(hours=24)}


def months_before(when: datetime, months: int) -> datetime:
    """``when`` moved back by calendar months (the day clamped to the month's length)."""
    total = when.year * 12 + (when.month - 1) - months
    year, month = divmod(total, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def cutoff(retention: str, now: datetime) -> datetime | None:
    """Recordings captured before this time are past ``retention``; None = kept until deleted."""
    choice = Retention(retention)
    if choice in RETENTION_MONTHS:
        return months_before(now, RETENTION_MONTHS[choice])
    if choice in RETENTION_SPANS:
        return now - RETENTION_SPANS[choice]
    return None


class Household(Base):
    """A customer household, known here only by its random pseudonym."""

    __tablename__ = "households"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    human_review: Mapped[bool] = mapped_column(default=False)
    human_review_since: Mapped[datetime | None] = mapped_column(default=None)
    """When review was last turned on: a clip recorded before it is never put in front of staff
    (consent covers what is recorded from then on). None while review is off, and for a household
    whose review was already on when this started being recorded (it covers every clip)."""
    retention: Mapped[str] = mapped_column(String(32), default=Retention.UNTIL_DELETED.value)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class Device(Base):
    """A device of a household; authenticates with a bearer token stored only as its hash."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


def new_pseudonym(prefix: str) -> str:
    """A random id such as ``hh_3f9a1c…`` (64 random bits)."""
    return f"{prefix}_{secrets.token_hex(8)}"


def hash_token(token: str) -> bytes:
    """SHA-256 of a device token; tokens carry 192 random bits, so no salt or stretching is needed."""
    return hashlib.sha256(token.encode()).digest()


def create_household(session: Session, *, now: datetime | None = None) -> Household:
    """A new household with review off and retention until deleted."""
    household = Household(id=new_pseudonym("hh"), created_at=now or utcnow())
    session.add(household)
    session.flush()
    return household


def add_device(session: Session, household_id: str) -> tuple[Device, str]:
    """A new device and its token; the token is returned once and never stored."""
    if session.get(Household, household_id) is None:
        raise NotFound(f"no household {household_id}", code="household_not_found")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    device = Device(
        id=new_pseudonym("dev"), household_id=household_id, token_hash=hash_token(token)
    )
    session.add(device)
    session.flush()
    return device, token


def revoke_device(session: Session, device_id: str, *, now: datetime | None = None) -> Device:
    """Revoke a device's token; later requests with it answer 401."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}", code="device_not_found")
    if device.revoked_at is None:
        device.revoked_at = now or utcnow()
    return device


def authenticate_device(session: Session, token: str) -> Device:
    """The active device holding ``token``, or Unauthorized (one message for every failure)."""
    digest = hash_token(token)
    return active_device(session.scalars(device_by_token(digest)).first(), digest)


def device_by_token(digest: bytes | BindParameter[bytes]) -> Select[tuple[Device]]:
    """The device whose token hashes to ``digest`` (a query other columns can be added to)."""
    return select(Device).where(Device.token_hash == digest)


def still_active(session: Session, device_id: str) -> Device:
    """The device read again now; Unauthorized if it was revoked or removed since a caller that
    holds it for long (``overheard wyoming``, for its whole run) looked it up."""
    current = session.get(Device, device_id, populate_existing=True)
    if current is None or current.revoked_at is not None:
        raise Unauthorized("invalid or revoked device token")
    return current


def active_device(device: Device | None, digest: bytes) -> Device:
    """``device`` if it was found by ``digest`` and is not revoked; else Unauthorized."""
    stored = device.token_hash if device is not None else b"\0" * 32
    if device is None or not hmac.compare_digest(stored, digest) or device.revoked_at is not None:
        raise Unauthorized("invalid or revoked device token")
    return device
