"""How an annotator is doing: clips done, minutes listened, skips and gold score."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .models import Annotation, ReviewTask, TaskBar
from .policy import SkipReason

SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class AnnotatorStats:
    """One annotator's record; gold figures are None before their first gold task."""

    pseudonym: str
    clips_done: int
    minutes_listened: float
    """Minutes of audio in clips they submitted or skipped (one full listen each)."""
    skips: int
    gold_done: int
    gold_mean_wer: float | None
    gold_intent_accuracy: float | None
    """Share of gold tasks whose intent matched, 0–1."""


def annotator_stats(session: Session, pseudonym: str) -> AnnotatorStats:
    """The record of the annotator known as ``pseudonym``."""
    done, done_s = session.execute(
        select(func.count(), func.coalesce(func.sum(ReviewTask.duration_s), 0.0)).where(
            ReviewTask.done_by == pseudonym
        )
    ).one()
    skips, skipped_s = session.execute(
        select(func.count(), func.coalesce(func.sum(ReviewTask.duration_s), 0.0))
        .select_from(TaskBar)
        .join(ReviewTask, ReviewTask.id == TaskBar.task_id)
        .where(TaskBar.annotator == pseudonym, TaskBar.cause.in_([r.value for r in SkipReason]))
    ).one()
    gold_n, gold_wer, gold_ok = session.execute(
        select(
            func.count(),
            func.avg(Annotation.gold_wer),
            func.avg(case((Annotation.gold_intent_correct.is_(True), 1.0), else_=0.0)),
        ).where(Annotation.annotator == pseudonym, Annotation.gold_wer.is_not(None))
    ).one()
    return AnnotatorStats(
        pseudonym=pseudonym,
        clips_done=int(done),
        minutes_listened=float(done_s + skipped_s) / SECONDS_PER_MINUTE,
        skips=int(skips),
        gold_done=int(gold_n),
        gold_mean_wer=None if not gold_n else float(gold_wer),
        gold_intent_accuracy=None if not gold_n else float(gold_ok),
    )
