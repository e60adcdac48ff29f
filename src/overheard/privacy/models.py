"""Tables of the privacy officer's work: cases (time-boxed access to one flagged clip) and actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base

NOTE_MAX_CHARS = 500
"""Longest note on an emergency action, characters (what was done, never what was said)."""


class PrivacyCase(Base):
    """One privacy officer's access to one emergency report's clip, until ``expires_at``."""

    __tablename__ = "privacy_cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(16), index=True)
    officer: Mapped[str] = mapped_column(String(32), index=True)
    """Pseudonym of the privacy officer."""
    opened_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class EmergencyAction(Base):
    """What a privacy officer did about an emergency report, with their note."""

    __tablename__ = "privacy_emergency_actions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(String(16), index=True)
    officer: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    """``open_case``, ``acknowledge``, ``escalate`` or ``close``."""
    note: Mapped[str] = mapped_column(String(NOTE_MAX_CHARS), default="")
    """Empty: the note is sealed with the clip's texts (``notes.action_kind``); a row written
    before that holds it here until its clip is deleted."""
    at: Mapped[datetime]
