"""Account tables: staff users, customer accounts, server-side web sessions, login attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Role(StrEnum):
    """What a staff member may do; routes name the roles they admit, nothing is implied."""

    ANNOTATOR = "annotator"
    LEAD = "lead"
    PRIVACY_OFFICER = "privacy_officer"
    ADMIN = "admin"


class SessionKind(StrEnum):
    """Who a web session belongs to."""

    STAFF = "staff"
    CUSTOMER = "customer"


class Stage(StrEnum):
    """How far a web session has come through sign-in."""

    PASSWORD = "password"  # noqa: S105 (a stage name: password accepted, second factor pending)
    ENROL = "enrol"
    FULL = "full"


class Credentials:
    """Columns every account that signs in carries: password, second factor, failure counters."""

    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    """Time step (30 s units since the epoch) of the last accepted code; older or equal are refused."""
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive failed passwords and codes since the last successful sign-in."""
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def has_totp(self) -> bool:
        """True once a second factor has been confirmed with a valid code."""
        return self.totp_confirmed_at is not None


class StaffUser(Credentials, Base):
    """A member of staff, known everywhere by a random pseudonym such as ``R-7f3a``."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    """The person's own name: shown only on the admin's user list and their own account page."""
    role: Mapped[str] = mapped_column(String(32))
    enrol_token_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), unique=True, default=None
    )
    enrol_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class CustomerAccount(Credentials, Base):
    """The sign-in of one household's owner (the e-mail address stays in the identity zone)."""

    __tablename__ = "customer_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), unique=True
    )
    invite_token_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), unique=True, default=None
    )
    invite_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A browser session; the cookie holds a random id, the table only its SHA-256."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True, default=None
    )
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customer_accounts.id", ondelete="CASCADE"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When the password was accepted; the absolute timeout counts from here."""
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    """One sign-in attempt under a keyed hash of its client address or account name."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
