"""Reviewed data: recordings with a settled annotation that may be used for training and evaluation.

A clip counts when its household has human review on, it was transcribed (never an accidental wake),
it still exists, it is not excluded from training (``review_exclusions``), no annotation of it raised
a flag that keeps it out (``sensitive``, ``emergency``, ``unintelligible``, ``not_directed``,
``wrong_language``), no disagreement about it is still waiting for a lead, and no voice deletion of
its household that may name it is pending (asked, in its undo period or running). The label is the
lead's adjudicated annotation where there was one, else the first review annotation. Gold tasks are
measurements of annotators and are not used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import as_utc, utcnow
from ..households import Household
from ..recordings import voice_delete
from ..recordings.gate import ContentGate
from ..recordings.models import Recording, Status
from ..review.content import annotation_kind, open_answer
from ..review.models import Agreement, Annotation, Exclusion, ReviewTask
from ..review.policy import Reason

BLOCKING_FLAGS = (
    Annotation.sensitive,
    Annotation.emergency,
    Annotation.unintelligible,
    Annotation.not_directed,
    Annotation.wrong_language,
)
"""A clip with any of these raised on any annotation never enters a dataset."""


@dataclass(frozen=True)
class ReviewedClip:
    """A usable reviewed recording and the annotation that labels it (ids only)."""

    recording_id: str
    annotation_id: str
    household_id: str
    reason: str
    """Why the clip was sampled for review: ``random`` or ``low_confidence``."""
    duration_s: float
    """Seconds of audio."""
    asr_confidence: float | None
    """The pipeline's utterance confidence, 0–1."""


@dataclass(frozen=True)
class Example:
    """A reviewed clip with its label, opened through the content gate."""

    clip: ReviewedClip
    transcript: str
    intent: str | None


def reviewed_clips(session: Session, *, with_audio: bool = False) -> list[ReviewedClip]:
    """Every usable reviewed clip, ordered by recording id."""
    rows = session.execute(
        select(Annotation, ReviewTask.reason, ReviewTask.first_task_id, Recording)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .join(Recording, Recording.id == Annotation.recording_id)
        .join(Household, Household.id == Recording.household_id)
        .where(
            Household.human_review.is_(True),
            Recording.status == Status.TRANSCRIBED.value,
            ReviewTask.reason != Reason.GOLD.value,
            Recording.id.not_in(select(Exclusion.recording_id)),
            Recording.id.not_in(select(Annotation.recording_id).where(or_(*BLOCKING_FLAGS))),
        )
        .order_by(Annotation.submitted_at, Annotation.id)
    ).all()
    by_recording: dict[str, list[tuple[Annotation, str, str | None, Recording]]] = defaultdict(list)
    commands = voice_delete.pending_commands(session, utcnow())
    for household_id, captured in voice_delete.unheard_captures(session).items():
        commands.setdefault(household_id, []).extend(captured)  # each may be a command
    for annotation, reason, first_task, recording in rows:
        if with_audio and recording.audio_blob is None:
            continue
        if _asked_to_delete(commands.get(recording.household_id), recording):
            continue
        by_recording[recording.id].append((annotation, reason, first_task, recording))
    settled = _settled(session, list(by_recording))
    clips = [_choose(entries, settled.get(rid)) for rid, entries in by_recording.items()]
    found = [c for c in clips if c is not None]
    return sorted(_with_reasons(session, found), key=lambda c: c.recording_id)


def _asked_to_delete(commands: list[datetime] | None, recording: Recording) -> bool:
    """Whether a voice deletion of the household still pending may name ``recording``
    (``voice_delete.pending_near``), or a clip of the household not yet heard by the pipeline may
    be one (``voice_delete.unheard_captures``): it is nobody's data to read or learn from
    meanwhile."""
    if not commands:
        return False
    captured = as_utc(recording.captured_at)
    return any(abs(captured - at) <= voice_delete.HELD_AROUND for at in commands)


_PENDING = "pending"


def _settled(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Recording id -> adjudicated annotation id, or ``_PENDING`` while a lead has not decided."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        agreements = session.scalars(
            select(Agreement).where(Agreement.recording_id.in_(ids[start : start + 500]))
        )
        for a in agreements:
            if a.state == "open":
                found[a.recording_id] = _PENDING
            elif (
                a.state == "resolved"
                and a.resolved_annotation_id
                and found.get(a.recording_id) != _PENDING
            ):
                found[a.recording_id] = a.resolved_annotation_id
    return found


def _choose(
    entries: list[tuple[Annotation, str, str | None, Recording]], settled: str | None
) -> ReviewedClip | None:
    if settled == _PENDING:
        return None
    chosen = next((e for e in entries if e[0].id == settled), None) if settled else None
    chosen = chosen or next((e for e in entries if e[0].kind == "review"), None)
    if chosen is None:
        return None
    annotation, reason, first_task, rec = chosen
    # A second pass or an adjudication keeps the reason of the clip's first task (looked up later).
    label = f"task:{first_task}" if reason == Reason.DOUBLE_CHECK.value and first_task else reason
    return ReviewedClip(
        rec.id, annotation.id, rec.household_id, label, rec.duration_s, rec.asr_confidence
    )


def _with_reasons(session: Session, clips: list[ReviewedClip]) -> Iterable[ReviewedClip]:
    parents = {c.reason.removeprefix("task:") for c in clips if c.reason.startswith("task:")}
    reasons = (
        dict(
            session.execute(
                select(ReviewTask.id, ReviewTask.reason).where(ReviewTask.id.in_(parents))
            )
            .tuples()
            .all()  # a list of pairs: a result has keys(), which dict() would take it by
        )
        if parents
        else {}
    )
    for clip in clips:
        if clip.reason.startswith("task:"):
            reason = reasons.get(clip.reason.removeprefix("task:"), Reason.RANDOM.value)
            clip = ReviewedClip(**{**clip.__dict__, "reason": reason})
        yield clip


def open_labels(
    session: Session, gate: ContentGate, clips: Iterable[ReviewedClip], *, actor: str, purpose: str
) -> list[Example]:
    """The transcript and intent of each clip, each opened through the gate (audited)."""
    examples = []
    for clip in clips:
        recording = session.get_one(Recording, clip.recording_id)
        answer = open_answer(
            session,
            gate,
            recording,
            annotation_kind(clip.annotation_id),
            actor=actor,
            purpose=purpose,
        )
        examples.append(Example(clip, answer.transcript, answer.intent))
    return examples
