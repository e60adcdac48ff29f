"""What a lead does with reviewed clips: see the recent ones, ask for a second annotation of one,
make one a gold item. Clips are named by their task pseudonym only; recording ids stay server-side."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import as_utc
from ..errors import Conflict, NotFound
from ..households import Household
from ..recordings import voice_delete
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from .annotations import queue_second
from .consent import hold_consent_for
from .flags import is_excluded
from .gold import make_gold
from .models import Annotation, Exclusion, GoldItem, ReviewTask, TaskState
from .policy import Reason

RECENT_LIMIT = 25
"""Reviewed clips listed on the lead page."""


@dataclass(frozen=True)
class ReviewedClip:
    """A first-pass annotation the lead can act on."""

    annotation_id: str
    task_pseudonym: str
    annotator: str
    submitted_at: datetime
    second: str | None
    """State of its double-check task (``queued``, ``leased``, ``done``, …), None if there is none."""
    gold: bool
    """Whether an active gold item was made from this recording."""


def recent_reviewed(
    session: Session, now: datetime, limit: int = RECENT_LIMIT
) -> list[ReviewedClip]:
    """The newest first-pass annotations of clips still in review use, newest first: not of a
    household that turned review off, not of a clip excluded (flagged ``sensitive`` on any pass),
    not of one a voice deletion still pending may name (what a lead could act on, as
    :func:`_first_pass` checks)."""
    found = session.execute(
        select(Annotation, ReviewTask, Recording.household_id, Recording.captured_at)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .join(Recording, Recording.id == Annotation.recording_id)
        .join(Household, Household.id == Recording.household_id)
        .where(
            Annotation.kind == "review",
            ReviewTask.first_task_id.is_(None),
            ReviewTask.reason != Reason.GOLD.value,
            Annotation.sensitive.is_(False),
            Household.human_review.is_(True),
            Annotation.recording_id.not_in(select(Exclusion.recording_id)),
        )
        .order_by(Annotation.submitted_at.desc())
        .limit(limit)
    ).all()
    commands = voice_delete.pending_commands(session, now)
    rows = [
        (a, t)
        for a, t, household_id, captured_at in found
        if not _asked_to_delete(commands.get(household_id, ()), as_utc(captured_at))
    ]
    task_ids = [task.id for _, task in rows]
    seconds = dict(
        session.execute(
            select(ReviewTask.first_task_id, ReviewTask.state).where(
                ReviewTask.first_task_id.in_(task_ids)
            )
        ).all()
    )
    gold = set(
        session.scalars(
            select(GoldItem.recording_id).where(
                GoldItem.active.is_(True),
                GoldItem.recording_id.in_([a.recording_id for a, _ in rows]),
            )
        )
    )
    return [
        ReviewedClip(
            a.id, t.pseudonym, a.annotator, a.submitted_at, seconds.get(t.id), a.recording_id in gold
        )
        for a, t in rows
    ]


def _asked_to_delete(commands: Iterable[datetime], captured: datetime) -> bool:
    """Whether a pending voice deletion captured at one of ``commands`` may name a clip captured
    at ``captured`` (``voice_delete.pending_near``, for many clips at once)."""
    return any(abs(captured - at) <= voice_delete.HELD_AROUND for at in commands)


def _first_pass(
    session: Session, annotation_id: str, now: datetime
) -> tuple[Annotation, ReviewTask, Recording]:
    found = session.execute(
        select(Annotation, ReviewTask)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .where(Annotation.id == annotation_id, Annotation.kind == "review")
        .with_for_update()
    ).first()
    recording = session.get(Recording, found[0].recording_id) if found else None
    if found is None or recording is None:
        raise NotFound("no such reviewed clip", code="annotation_not_found")
    if not hold_consent_for(session, recording) or is_excluded(session, recording.id):
        raise Conflict("this clip is no longer in review use", code="excluded")
    if voice_delete.pending_near(session, recording, now):
        raise Conflict("the household asked by voice to delete this clip", code="excluded")
    return found[0], found[1], recording


def ask_second(session: Session, annotation_id: str, lead: str, now: datetime) -> ReviewTask:
    """Queue a double-check of a reviewed clip (never for its first annotator); once per clip."""
    annotation, task, recording = _first_pass(session, annotation_id, now)
    existing = session.scalar(
        select(ReviewTask.id).where(
            ReviewTask.first_task_id == task.id, ReviewTask.state != TaskState.WITHDRAWN.value
        )
    )
    if task.first_task_id is not None or existing is not None:
        raise Conflict("this clip already has a second annotation", code="second_exists")
    second = queue_second(session, task, annotation.annotator, now)
    audit.append(
        session,
        actor=lead,
        action="review.ask_second",
        subject=recording.id,
        household_id=recording.household_id,
        details={"task": task.id, "second": second.id},
        now=now,
    )
    return second


def gold_from(
    session: Session, gate: ContentGate, annotation_id: str, lead: str, now: datetime
) -> GoldItem:
    """A gold item whose answer is this reviewed annotation; once per recording."""
    annotation, _task, recording = _first_pass(session, annotation_id, now)
    active = session.scalar(
        select(GoldItem.id).where(GoldItem.recording_id == recording.id, GoldItem.active.is_(True))
    )
    if active is not None:
        raise Conflict("this clip is already a gold item", code="gold_exists")
    return make_gold(session, gate, recording.id, lead, from_annotation_id=annotation.id, now=now)
