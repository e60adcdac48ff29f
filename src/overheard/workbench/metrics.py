"""Figures for the workbench and the lead pages, read from review metadata only (never content)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ..review.models import Agreement, Annotation, EmergencyReport, ReviewTask, TaskBar, TaskState
from ..review.policy import SkipReason
from ..review.stats import SECONDS_PER_MINUTE, annotator_stats

THROUGHPUT_WINDOW_S = 86_400.0
"""How far back the per-annotator throughput looks, seconds (one day)."""
SECONDS_PER_HOUR = 3600.0
_SKIP_CAUSES = [r.value for r in SkipReason]


@dataclass(frozen=True)
class ShiftStats:
    """What an annotator has done since a moment (their sign-in)."""

    clips: int
    skips: int
    minutes_listened: float
    """Minutes of audio in clips submitted or skipped (one full listen each)."""


@dataclass(frozen=True)
class QueueDepth:
    """How much waits, and how much is in hand."""

    queued: int
    leased: int
    """Leases still live."""
    stale: int
    """Leases that ran out and wait to be reclaimed by the next claim."""
    by_reason: dict[str, int]
    """Claimable tasks per reason."""
    open_adjudications: int
    open_emergencies: int


@dataclass(frozen=True)
class AnnotatorRow:
    """One annotator, by pseudonym, on the lead page."""

    pseudonym: str
    clips_window: int
    """Clips submitted within ``THROUGHPUT_WINDOW_S``."""
    clips_per_hour: float
    """Clips per hour of handling time in the window (claim to submit)."""
    median_handling_s: float | None
    clips_total: int
    minutes_total: float
    skips_total: int
    pairs: int
    """Double annotations this annotator took part in."""
    mean_pair_wer: float | None
    intent_agreement: float | None
    """Share of their pairs whose intents matched, 0–1."""
    gold_done: int
    gold_mean_wer: float | None
    gold_intent_accuracy: float | None


def shift_stats(session: Session, pseudonym: str, since: datetime) -> ShiftStats:
    """Clips, skips and minutes of ``pseudonym`` since ``since``."""
    done, done_s = session.execute(
        select(func.count(), func.coalesce(func.sum(ReviewTask.duration_s), 0.0)).where(
            ReviewTask.done_by == pseudonym, ReviewTask.done_at >= since
        )
    ).one()
    skips, skipped_s = session.execute(
        select(func.count(), func.coalesce(func.sum(ReviewTask.duration_s), 0.0))
        .select_from(TaskBar)
        .join(ReviewTask, ReviewTask.id == TaskBar.task_id)
        .where(TaskBar.annotator == pseudonym, TaskBar.cause.in_(_SKIP_CAUSES), TaskBar.at >= since)
    ).one()
    minutes = float(done_s + skipped_s) / SECONDS_PER_MINUTE
    return ShiftStats(clips=int(done), skips=int(skips), minutes_listened=minutes)


def queue_depth(session: Session, now: datetime) -> QueueDepth:
    """Counts of waiting and leased tasks, open adjudications and emergency reports."""
    # One bound expression, grouped by its label: PostgreSQL refuses two copies of a parameter.
    live_lease = (ReviewTask.lease_until >= now).label("live")
    rows = session.execute(
        select(ReviewTask.state, ReviewTask.reason, live_lease, func.count())
        .where(ReviewTask.state.in_([TaskState.QUEUED.value, TaskState.LEASED.value]))
        .group_by(ReviewTask.state, ReviewTask.reason, live_lease)
    ).all()
    queued = leased = stale = 0
    by_reason: dict[str, int] = defaultdict(int)
    for state, reason, live, count in rows:
        if state == TaskState.LEASED.value and live:
            leased += count
            continue
        if state == TaskState.QUEUED.value:
            queued += count
        else:
            stale += count
        by_reason[reason] += count
    return QueueDepth(
        queued=queued,
        leased=leased,
        stale=stale,
        by_reason=dict(sorted(by_reason.items())),
        open_adjudications=_open(session, Agreement),
        open_emergencies=_open(session, EmergencyReport),
    )


def _open(session: Session, table: type[Agreement] | type[EmergencyReport]) -> int:
    found = session.scalar(select(func.count()).select_from(table).where(table.state == "open"))
    return int(found or 0)


def annotator_rows(session: Session, now: datetime) -> list[AnnotatorRow]:
    """Every annotator who has submitted or skipped anything, by pseudonym."""
    names = set(session.scalars(select(ReviewTask.done_by).where(ReviewTask.done_by.is_not(None))))
    names |= set(session.scalars(select(TaskBar.annotator).where(TaskBar.cause.in_(_SKIP_CAUSES))))
    handling = _handling_times(session, now - timedelta(seconds=THROUGHPUT_WINDOW_S))
    pairs = _pair_figures(session)
    return [_row(session, str(n), handling.get(str(n), []), pairs.get(str(n), [])) for n in sorted(names)]


def _row(
    session: Session, name: str, handled: list[float], pairs: list[tuple[float, bool]]
) -> AnnotatorRow:
    record = annotator_stats(session, name)
    busy_h = sum(handled) / SECONDS_PER_HOUR
    return AnnotatorRow(
        pseudonym=name,
        clips_window=len(handled),
        clips_per_hour=len(handled) / busy_h if busy_h > 0 else 0.0,
        median_handling_s=statistics.median(handled) if handled else None,
        clips_total=record.clips_done,
        minutes_total=record.minutes_listened,
        skips_total=record.skips,
        pairs=len(pairs),
        mean_pair_wer=statistics.fmean(w for w, _ in pairs) if pairs else None,
        intent_agreement=sum(ok for _, ok in pairs) / len(pairs) if pairs else None,
        gold_done=record.gold_done,
        gold_mean_wer=record.gold_mean_wer,
        gold_intent_accuracy=record.gold_intent_accuracy,
    )


def _handling_times(session: Session, since: datetime) -> dict[str, list[float]]:
    rows = session.execute(
        select(Annotation.annotator, Annotation.started_at, Annotation.submitted_at).where(
            Annotation.kind == "review", Annotation.submitted_at >= since
        )
    ).all()
    found: dict[str, list[float]] = defaultdict(list)
    for who, started, submitted in rows:
        found[who].append(max(0.0, (submitted - started).total_seconds()))
    return found


def _pair_figures(session: Session) -> dict[str, list[tuple[float, bool]]]:
    first, second = aliased(Annotation), aliased(Annotation)
    rows = session.execute(
        select(first.annotator, second.annotator, Agreement.wer, Agreement.intent_agree)
        .join(first, first.id == Agreement.first_annotation_id)
        .join(second, second.id == Agreement.second_annotation_id)
    ).all()
    found: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for one, two, wer, agree in rows:
        for who in {one, two}:
            found[who].append((float(wer), bool(agree)))
    return found
