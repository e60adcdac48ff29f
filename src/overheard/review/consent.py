"""A household's consent to human review: off by default; turning it off withdraws at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import NotFound
from ..households import Household
from ._tasks import withdraw_household

CONSENT_WITHDRAWN = "consent_withdrawn"
OFF_HOOKS: list[Callable[[Session, str], object]] = []
"""Called with the household id in the transaction that turns its review off: copies made only
for review (disguised renditions) go with it."""


_LOCK_HOUSEHOLD = (
    select(Household)
    .where(Household.id == bindparam("household_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def lock_household(session: Session, household_id: str) -> Household | None:
    """The household row, locked for this transaction on PostgreSQL (SQLite holds the write lock)."""
    return session.scalars(_LOCK_HOUSEHOLD, {"household_id": household_id}).first()


def set_human_review(
    session: Session, household_id: str, on: bool, actor: str, now: datetime
) -> int:
    """Turn review on or off; off withdraws every open task in this transaction. Returns how many."""
    household = lock_household(session, household_id)
    if household is None:
        raise NotFound(f"no household {household_id}", code="household_not_found")
    if on and not household.human_review:
        household.human_review_since = now
    elif not on:
        household.human_review_since = None
    household.human_review = on
    withdrawn = 0 if on else withdraw_household(session, household_id, CONSENT_WITHDRAWN)
    for hook in () if on else OFF_HOOKS:
        hook(session, household_id)
    audit.append(
        session,
        actor=actor,
        action="review.consent",
        subject=household_id,
        household_id=household_id,
        reason="on" if on else "off",
        details={"human_review": on, "tasks_withdrawn": withdrawn},
        now=now,
    )
    return withdrawn


_CONSENT = select(Household.human_review, Household.human_review_since).where(
    Household.id == bindparam("household_id")
)
_HOLD_CONSENT = _CONSENT.with_for_update(read=True)


def hold_consent(session: Session, household_id: str) -> bool:
    """Whether the household has review on, its row held ``FOR SHARE`` until this transaction ends
    (PostgreSQL; SQLite holds the write lock): turning review off waits for this commit, or this
    reads its commit. For what rests on the household's consent as a whole (reviewed data taken
    for training, a second pass queued); a clip put (back) in front of staff — a copy made for
    review, an undo, a second annotation, a gold item — checks :func:`hold_consent_for`."""
    found = session.execute(_HOLD_CONSENT, {"household_id": household_id}).first()
    return found is not None and bool(found.human_review)


class Recorded(Protocol):
    """What consent is checked against: a recording's household and times."""

    household_id: str
    captured_at: datetime
    received_at: datetime


def covered(since: datetime | None, recording: Recorded) -> bool:
    """Whether consent given at ``since`` (None: before times were kept) covers ``recording``: it
    was captured, and received, no earlier. The device's clock names when it was said; the
    server's, when it arrived; a clip either one places before consent stays out."""
    return since is None or min(recording.captured_at, recording.received_at) >= since


def hold_consent_for(session: Session, recording: Recorded) -> bool:
    """:func:`hold_consent` for one clip: the household has review on, and had it on when the clip
    was recorded (a clip recorded while review was off is never put in front of staff, whenever
    review is turned on)."""
    return _consents(session, _HOLD_CONSENT, recording)


def has_consent_for(session: Session, recording: Recorded) -> bool:
    """:func:`hold_consent_for` without the hold."""
    return _consents(session, _CONSENT, recording)


def _consents(
    session: Session, query: Select[tuple[bool, datetime | None]], recording: Recorded
) -> bool:
    found = session.execute(query, {"household_id": recording.household_id}).first()
    return (
        found is not None
        and bool(found.human_review)
        and covered(found.human_review_since, recording)
    )
