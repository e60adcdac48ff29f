"""Gold tasks: clips with a known answer, made by a lead, that measure annotators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import BadRequest, Conflict, NotFound
from ..recordings import voice_delete
from ..recordings.gate import ContentGate
from ..recordings.models import Recording, Status
from ._tasks import new_short_id
from .agreement import ACTOR, intents_agree, word_error_rate
from .consent import hold_consent_for
from .content import AnnotationInput, annotation_kind, gold_kind, open_answer, seal_answer
from .flags import is_excluded
from .models import Annotation, GoldItem


def _check_goldable(session: Session, recording: Recording | None, now: datetime) -> Recording:
    if recording is None or recording.status != Status.TRANSCRIBED.value:
        raise NotFound("no such reviewable recording", code="recording_not_found")
    if not hold_consent_for(session, recording):
        raise Conflict("the household does not take part in review", code="no_consent")
    if is_excluded(session, recording.id):
        raise Conflict("this recording is excluded from review use", code="excluded")
    if voice_delete.pending_near(session, recording, now):
        raise Conflict("the household asked by voice to delete this recording", code="excluded")
    reviewed = session.scalar(
        select(Annotation.id).where(
            Annotation.recording_id == recording.id, Annotation.kind == "review"
        )
    )
    if reviewed is None:
        raise Conflict("gold is made from a reviewed recording", code="not_reviewed")
    return recording


def make_gold(
    session: Session,
    gate: ContentGate,
    recording_id: str,
    lead: str,
    *,
    answer: AnnotationInput | None = None,
    from_annotation_id: str | None = None,
    now: datetime,
) -> GoldItem:
    """A gold item from a reviewed recording, its answer given or copied from an annotation."""
    recording = _check_goldable(session, session.get(Recording, recording_id), now)
    if (answer is None) == (from_annotation_id is None):
        raise BadRequest("give an answer or an annotation to copy, not both")
    if from_annotation_id is not None:
        source = session.get(Annotation, from_annotation_id)
        if source is None or source.recording_id != recording.id:
            raise BadRequest("that annotation is not of this recording")
        kind = annotation_kind(source.id)
        answer = open_answer(session, gate, recording, kind, actor=lead, purpose="make_gold")
    assert answer is not None
    item = GoldItem(
        id=new_short_id(),
        recording_id=recording.id,
        household_id=recording.household_id,
        duration_s=recording.duration_s,
        created_by=lead,
        created_at=now,
    )
    session.add(item)
    session.flush()
    seal_answer(session, gate, recording, gold_kind(item.id), answer)
    audit.append(
        session,
        actor=lead,
        action="review.gold",
        subject=recording.id,
        household_id=recording.household_id,
        details={"gold": item.id},
        now=now,
    )
    return item


def retire_gold(session: Session, gold_id: str, lead: str, now: datetime) -> None:
    """Stop serving a gold item."""
    item = session.get(GoldItem, gold_id)
    if item is None:
        raise NotFound("no such gold item", code="gold_not_found")
    item.active = False
    audit.append(
        session,
        actor=lead,
        action="review.gold_retire",
        subject=item.recording_id,
        household_id=item.household_id,
        details={"gold": item.id},
        now=now,
    )


def score(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    gold_id: str,
    annotation: Annotation,
    given: AnnotationInput,
) -> None:
    """Record on ``annotation`` its WER and intent correctness against the gold answer."""
    expected = open_answer(
        session, gate, recording, gold_kind(gold_id), actor=ACTOR, purpose="gold_scoring"
    )
    annotation.gold_wer = word_error_rate(expected.transcript, given.transcript)
    annotation.gold_intent_correct = intents_agree(expected.intent, given.intent)
