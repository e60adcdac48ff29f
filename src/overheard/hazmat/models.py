"""The re-identification request table (:mod:`.reidentify` is the service that fills it)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base

REASON_MAX_CHARS = 1000
NOTE_MAX_CHARS = 500


class State(StrEnum):
    """Where a request is."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    VIEWED = "viewed"
    LAPSED = "lapsed"
    """Not decided in time, or approved but not viewed in its window."""
    WITHDRAWN = "withdrawn"
    """The household deleted the clip before the identity was viewed."""


OPEN_STATES = (State.PENDING.value, State.APPROVED.value)
"""States in which a request may still lead to the identity."""


class ReidentifyRequest(Base):
    """A request to learn who a clip's household is; the reason is the requester's own words."""

    __tablename__ = "reidentify_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_pseudonym: Mapped[str] = mapped_column(String(16))
    recording_id: Mapped[str] = mapped_column(String(32))
    household_id: Mapped[str] = mapped_column(String(32), index=True)
    requested_by_id: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(32))
    """Pseudonym of the requesting officer."""
    reason: Mapped[str] = mapped_column(String(REASON_MAX_CHARS))
    """Empty: the reason is sealed (``notes.reason_kind``); a row written before that holds it here
    until its clip is deleted."""
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=State.PENDING.value, index=True)
    decided_by_id: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(String(NOTE_MAX_CHARS), default=None)
    """None: the note, if any, is sealed (``notes.decision_kind``); on a row written before that,
    it is here until its clip is deleted."""
    view_until: Mapped[datetime | None] = mapped_column(default=None)
    viewed_at: Mapped[datetime | None] = mapped_column(default=None)
