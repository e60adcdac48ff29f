"""Double annotation: how far two annotations of one clip agree, and a lead's adjudication."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import jiwer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import BadRequest, Conflict, NotFound
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from ._tasks import new_short_id
from .content import AnnotationInput, annotation_kind, open_answer, seal_answer
from .flags import FlagEvent, run_flag_hooks
from .models import Agreement, Annotation, ReviewTask
from .policy import ReviewPolicy

ACTOR = "system:review"
_PUNCTUATION = re.compile(r"[^\w\s']")


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, single spaces: what WER compares."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after normalising both (empty vs empty = 0)."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp))


def intents_agree(a: str | None, b: str | None) -> bool:
    """Whether two intent labels name the same intent (case and surrounding space ignored)."""
    return (a or "").strip().lower() == (b or "").strip().lower()


def compare(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    first: Annotation,
    second: Annotation,
    second_answer: AnnotationInput,
    policy: ReviewPolicy,
    now: datetime,
) -> Agreement:
    """Compare a second annotation with the first; disagreement opens an adjudication."""
    first_answer = open_answer(
        session, gate, recording, annotation_kind(first.id), actor=ACTOR, purpose="agreement"
    )
    wer = word_error_rate(first_answer.transcript, second_answer.transcript)
    agree = intents_agree(first_answer.intent, second_answer.intent)
    disagree = wer > policy.disagreement_wer or not agree
    row = Agreement(
        id=new_short_id(),
        recording_id=recording.id,
        first_annotation_id=first.id,
        second_annotation_id=second.id,
        wer=wer,
        intent_agree=agree,
        state="open" if disagree else "agreed",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def first_annotation(session: Session, double_check: ReviewTask) -> Annotation | None:
    """The review annotation of the task a ``double_check`` task repeats."""
    return session.scalars(
        select(Annotation).where(
            Annotation.task_id == double_check.first_task_id, Annotation.kind == "review"
        )
    ).first()


@dataclass(frozen=True)
class AdjudicationItem:
    """A disagreement waiting for a lead (task pseudonym for display; no origin)."""

    agreement_id: str
    task_pseudonym: str
    wer: float
    intent_agree: bool
    first_annotation_id: str
    second_annotation_id: str


def adjudication_queue(session: Session) -> list[AdjudicationItem]:
    """Open disagreements, oldest first."""
    rows = session.execute(
        select(Agreement, ReviewTask.pseudonym)
        .join(Annotation, Annotation.id == Agreement.second_annotation_id)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .where(Agreement.state == "open")
        .order_by(Agreement.created_at)
    ).all()
    return [
        AdjudicationItem(
            a.id, pseudonym, a.wer, a.intent_agree, a.first_annotation_id, a.second_annotation_id
        )
        for a, pseudonym in rows
    ]


def adjudicate(
    session: Session,
    gate: ContentGate,
    agreement_id: str,
    lead: str,
    *,
    chosen_annotation_id: str | None = None,
    corrected: AnnotationInput | None = None,
    now: datetime,
) -> str:
    """Settle an open disagreement with one of its annotations or a correction; the final annotation id."""
    item = session.get(Agreement, agreement_id, with_for_update=True)
    if item is None:
        raise NotFound("no such adjudication", code="adjudication_not_found")
    if item.state != "open":
        raise Conflict("this adjudication is not open", code="adjudication_closed")
    if (chosen_annotation_id is None) == (corrected is None):
        raise BadRequest("choose an annotation or give a correction, not both")
    if chosen_annotation_id is not None:
        if chosen_annotation_id not in (item.first_annotation_id, item.second_annotation_id):
            raise BadRequest("that annotation is not part of this disagreement")
        final = chosen_annotation_id
    else:
        assert corrected is not None
        if not corrected.transcript and not corrected.flags:
            raise BadRequest(
                "a correction needs the words heard, or a flag saying why there are none",
                code="empty_correction",
            )
        final = _add_correction(session, gate, item, lead, corrected, now)
    item.state, item.resolved_by, item.resolved_at = "resolved", lead, now
    item.resolved_annotation_id = final
    recording = session.get_one(Recording, item.recording_id)
    audit.append(
        session,
        actor=lead,
        action="review.adjudicate",
        subject=item.recording_id,
        household_id=recording.household_id,
        reason="chosen" if chosen_annotation_id else "corrected",
        details={"agreement": item.id, "annotation": final},
        now=now,
    )
    return final


def _add_correction(
    session: Session,
    gate: ContentGate,
    item: Agreement,
    lead: str,
    corrected: AnnotationInput,
    now: datetime,
) -> str:
    second = session.get_one(Annotation, item.second_annotation_id)
    recording = session.get_one(Recording, item.recording_id)
    row = Annotation(
        id=new_short_id(),
        task_id=second.task_id,
        recording_id=item.recording_id,
        annotator=lead,
        kind="adjudication",
        started_at=now,
        submitted_at=now,
        **{flag.value: True for flag in corrected.flags},
    )
    session.add(row)
    session.flush()
    seal_answer(session, gate, recording, annotation_kind(row.id), corrected)
    event = FlagEvent(recording.id, second.task_id, row.id, lead, now)
    run_flag_hooks(session, corrected.flags, event)
    return row.id
