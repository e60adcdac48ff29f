"""The demo's review history: two background annotators review the first sampled clips, one clip is
double-annotated and they disagree (so adjudication has work), and the demo lead makes one reviewed
clip gold. Everything goes through the same services a person's clicks reach, audited alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts.service import create_staff
from .db import transaction
from .errors import Conflict
from .platform import Platform
from .protect import serving
from .review.lead import ask_second, gold_from
from .review.models import Annotation, ReviewTask, TaskState
from .review.policy import SkipReason
from .review.queue import Lease
from .speech.nlu import IntentModel, default_intent_model
from .workbench import flow

T = TypeVar("T")

MAX_FIRST_PASSES = 4
"""First-pass reviews the demo annotators make before asking for the second one."""


@dataclass(frozen=True)
class DemoReviews:
    """What was seeded."""

    reviewed: int
    disagreements: int
    gold: int


def seed_reviews(platform: Platform, lead: str, now: datetime) -> DemoReviews:
    """Review a few sampled clips as two demo annotators; one disagreement, one gold item."""
    with transaction(platform.sessions) as session:
        first = create_staff(session, name="Demo Reviewer One", role="annotator", actor="demo")[0]
        second = create_staff(session, name="Demo Reviewer Two", role="annotator", actor="demo")[0]
    model = default_intent_model()
    done: list[str] = []
    clock = now
    while len(done) < MAX_FIRST_PASSES:
        clock += timedelta(seconds=20)
        annotation = _review(platform, first.pseudonym, model, clock, disagree=False)
        if annotation is None:
            break
        done.append(annotation)
    if not done:
        return DemoReviews(0, 0, 0)
    with transaction(platform.sessions) as session:
        wanted = _second_task(session, done, lead, clock)
        _first_allowed(reversed(done), lambda a: gold_from(session, platform.gate, a, lead, clock))
    disagreements = 0
    while (lease := flow.claim(platform, second.pseudonym, clock)) is not None:
        clock += timedelta(seconds=20)
        if lease.task.task_id != wanted:
            # Given back, not answered: the clips the demo leaves are for the person trying it.
            flow.skip(platform, second.pseudonym, lease.lease_id, SkipReason.OTHER, clock)
            continue
        _answer(platform, second.pseudonym, lease, model, clock, disagree=True)
        disagreements += 1
        break
    return DemoReviews(len(done), disagreements, 1)


def _second_task(session: Session, done: list[str], lead: str, now: datetime) -> str:
    """The double check the second annotator will disagree on: one the sampler already drew for a
    reviewed clip (the demo draws a quarter of them), else one the lead asks for."""
    drawn = session.scalar(
        select(ReviewTask.id)
        .join(Annotation, Annotation.task_id == ReviewTask.first_task_id)
        .where(Annotation.id.in_(done), ReviewTask.state != TaskState.WITHDRAWN.value)
        .order_by(ReviewTask.created_at, ReviewTask.id)
        .limit(1)
    )
    if drawn is not None:
        return drawn
    return _first_allowed(done, lambda a: ask_second(session, a, lead, now)).id


def _first_allowed(annotations: Iterable[str], act: Callable[[str], T]) -> T:
    """``act`` on the first reviewed annotation the lead may still act on: a clip reviewed a moment
    ago may since be held (a household's spoken deletion near it, review turned off), and the lead's
    services refuse it before they write anything (``review.lead._first_pass``)."""
    refused: Conflict | None = None
    for annotation in annotations:
        try:
            return act(annotation)
        except Conflict as error:
            refused = error
    assert refused is not None, "no reviewed clip to act on"
    raise refused


def _review(
    platform: Platform, pseudonym: str, model: IntentModel, now: datetime, *, disagree: bool
) -> str | None:
    lease = flow.claim(platform, pseudonym, now)
    if lease is None:
        return None
    return _answer(platform, pseudonym, lease, model, now, disagree=disagree)


def _answer(
    platform: Platform,
    pseudonym: str,
    lease: Lease,
    model: IntentModel,
    now: datetime,
    *,
    disagree: bool,
) -> str:
    lease_id = lease.lease_id
    heard = serving.text_for_lease(platform, lease_id=lease_id, staff=pseudonym, now=now).hypothesis
    intent = model.predict(heard).intent if heard else "none"
    if disagree:  # the second reviewer hears it differently
        heard, intent = " ".join(heard.split()[:-1]) or "unclear", "none"
    answer = flow.answer_from(heard, intent, [])
    return flow.submit(platform, pseudonym, lease_id, answer, now)

