"""Which transcribed recordings go to human review: consent, a random draw, and a per-household cap.

Runs after ASR, in the pipeline's transaction. Every decision is audited with ids only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from .. import audit, jobs
from ..db import UTCDateTime
from ..recordings import voice_delete
from ..recordings.models import Recording, Status
from ._tasks import add_task
from .consent import covered, lock_household
from .models import ReviewTask
from .policy import SAMPLED_REASONS, Decision, Draw, Reason, ReviewPolicy

ACTOR = "system:sampler"
DISGUISE_JOB = "review.disguise"
"""The job that makes a sampled clip's disguised rendition (queued with its task, handled in protect)."""


def draw_reason(
    u: float,
    asr_confidence: float | None,
    policy: ReviewPolicy,
    weakest_word: float | None = None,
) -> Reason | None:
    """The reason a draw ``u`` in [0, 1) samples a recording, or None.

    ``u < sample_rate`` is a plain random pick whatever the confidence, so ``random`` tasks stay an
    unbiased sample; low confidence (of the utterance, or of its least certain word) only adds
    picks up to ``low_confidence_rate``.
    """
    if u < policy.sample_rate:
        return Reason.RANDOM
    low = asr_confidence is not None and asr_confidence < policy.low_confidence_below
    low = low or (weakest_word is not None and weakest_word < policy.low_word_confidence_below)
    if low and u < policy.low_confidence_rate:
        return Reason.LOW_CONFIDENCE
    return None


_SAMPLED_SINCE = (
    select(func.count())
    .select_from(ReviewTask)
    .where(
        ReviewTask.household_id == bindparam("household_id"),
        ReviewTask.reason.in_(SAMPLED_REASONS),
        ReviewTask.created_at >= bindparam("since", type_=UTCDateTime()),
    )
)
_SAMPLED_TASK = (
    select(ReviewTask.id)
    .where(
        ReviewTask.recording_id == bindparam("recording_id"),
        ReviewTask.reason.in_(SAMPLED_REASONS),
    )
    .limit(1)
)
# Statements are built once: the sampler runs for every transcribed request.


def sampled_in_window(session: Session, household_id: str, now: datetime, window_s: float) -> int:
    """Clips of the household sampled in the closed window ``[now - window_s, now]``."""
    since = now - timedelta(seconds=window_s)
    return int(session.scalar(_SAMPLED_SINCE, {"household_id": household_id, "since": since}) or 0)


def _decide(
    session: Session,
    recording: Recording,
    policy: ReviewPolicy,
    rng: Draw,
    now: datetime,
    weakest_word: float | None,
) -> tuple[Decision, Reason | None, bool]:
    if recording.status != Status.TRANSCRIBED.value:
        return Decision.NOT_ELIGIBLE, None, False
    household = lock_household(session, recording.household_id)
    if household is None or not household.human_review:
        return Decision.NO_CONSENT, None, False
    if not covered(household.human_review_since, recording):
        return Decision.BEFORE_CONSENT, None, False
    if voice_delete.pending_near(session, recording, now):
        return Decision.DELETION_PENDING, None, False
    reason = draw_reason(rng.random(), recording.asr_confidence, policy, weakest_word)
    if reason is None:
        return Decision.NOT_DRAWN, None, False
    if session.scalar(_SAMPLED_TASK, {"recording_id": recording.id}) is not None:
        return Decision.ALREADY_SAMPLED, reason, False
    if sampled_in_window(session, household.id, now, policy.cap_window_s) >= policy.household_cap:
        return Decision.CAP_REACHED, reason, False
    return Decision.SAMPLED, reason, rng.random() < policy.double_share


def sample_after_transcription(
    session: Session,
    recording: Recording,
    policy: ReviewPolicy,
    rng: Draw,
    now: datetime,
    weakest_word: float | None = None,
) -> ReviewTask | None:
    """Decide whether ``recording`` goes to review and audit why; the new task, or None.

    ``weakest_word`` is the lowest word confidence of the transcript, 0–1, when known.

    Call it once per recording, in the transaction that makes it ``transcribed``; a repeated call
    never makes a second task. A new task comes with a queued job that makes the clip's disguise.
    """
    decision, reason, wants_second = _decide(session, recording, policy, rng, now, weakest_word)
    task = None
    if decision is Decision.SAMPLED and reason is not None:
        task = add_task(
            session,
            recording_id=recording.id,
            household_id=recording.household_id,
            duration_s=recording.duration_s,
            reason=reason.value,
            now=now,
            wants_second=wants_second,
        )
        jobs.enqueue(session, DISGUISE_JOB, recording.id, now=now)
    details: dict[str, object] = {"decision": decision.value}
    if reason is not None:
        details["draw"] = reason.value
    if task is not None:
        details.update(task=task.id, double=wants_second)
    audit.append(
        session,
        actor=ACTOR,
        action="review.sample",
        subject=recording.id,
        household_id=recording.household_id,
        reason=decision.value,
        details=details,
        now=now,
    )
    return task
