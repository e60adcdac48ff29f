"""Making and withdrawing tasks: the few writes several services share."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from ..recordings.models import Recording
from .models import OPEN_STATES, Agreement, GoldItem, ReviewTask, TaskState

TASK_PSEUDONYM_PREFIX = "C-"
TASK_PSEUDONYM_BYTES = 6
"""Random bytes in a task pseudonym (48 bits: no collision in practice, still short to read out)."""


def new_task_pseudonym() -> str:
    """A random display name for a clip, e.g. ``C-9d2e41a07b3c``; says nothing about its origin."""
    return TASK_PSEUDONYM_PREFIX + secrets.token_hex(TASK_PSEUDONYM_BYTES)


def new_short_id() -> str:
    """A random 64-bit id in hex (short enough for sealed-text kinds such as ``annotation:<id>``)."""
    return secrets.token_hex(8)


def add_task(
    session: Session,
    *,
    recording_id: str,
    household_id: str,
    duration_s: float,
    reason: str,
    now: datetime,
    **extra: object,
) -> ReviewTask:
    """A new task (queued unless ``extra`` says otherwise), flushed."""
    task = ReviewTask(
        id=uuid.uuid4().hex,
        pseudonym=new_task_pseudonym(),
        recording_id=recording_id,
        household_id=household_id,
        duration_s=duration_s,
        reason=reason,
        created_at=now,
        **extra,
    )
    session.add(task)
    session.flush()
    return task


def withdraw_where(session: Session, where: ColumnElement[bool], because: str) -> int:
    """Withdraw every open task matching ``where``; live leases on them stop at once."""
    result = session.execute(
        update(ReviewTask)
        .where(where, ReviewTask.state.in_(OPEN_STATES))
        .values(state=TaskState.WITHDRAWN.value, lease_until=None, withdrawn_because=because)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def withdraw_recordings(session: Session, recording_ids: list[str], because: str) -> int:
    """Withdraw the recordings' open tasks, open adjudications and gold items."""
    if not recording_ids:
        return 0
    # Gold items first: a gold claim holds its item until it commits its new task, which the
    # task withdrawal (a later statement, a fresh snapshot) then sees.
    session.execute(
        update(GoldItem)
        .where(GoldItem.recording_id.in_(recording_ids))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    count = withdraw_where(session, ReviewTask.recording_id.in_(recording_ids), because)
    _close_adjudications(session, Agreement.recording_id.in_(recording_ids))
    return count


def withdraw_household(session: Session, household_id: str, because: str) -> int:
    """Withdraw everything of a household that could still reach a reviewer or a lead."""
    session.execute(  # gold items first, as in ``withdraw_recordings``
        update(GoldItem)
        .where(GoldItem.household_id == household_id)
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    count = withdraw_where(session, ReviewTask.household_id == household_id, because)
    recordings = select(Recording.id).where(Recording.household_id == household_id)
    _close_adjudications(session, Agreement.recording_id.in_(recordings))
    return count


def _close_adjudications(session: Session, where: ColumnElement[bool]) -> None:
    session.execute(
        update(Agreement)
        .where(where, Agreement.state == "open")
        .values(state="withdrawn")
        .execution_options(synchronize_session="fetch")
    )
