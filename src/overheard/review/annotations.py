"""Submitting an annotation: sealed content, plaintext flags and their hooks, then what follows
(a second pass for a double-check, an agreement for a second pass, a score for gold)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .. import audit
from ..recordings.deletion import hold_against_deletion
from ..recordings.gate import ContentGate, recording_and_key
from . import agreement, gold
from ._tasks import add_task, new_short_id
from .consent import hold_consent
from .content import AnnotationInput, annotation_kind, seal_answer
from .errors import LeaseExpired
from .flags import FlagEvent, run_flag_hooks
from .models import Annotation, ReviewTask, TaskBar, TaskState
from .policy import Flag, Reason, ReviewPolicy
from .queue import end_lease, end_single_pass_lease, refuse_unheard

FIRST_PASS = "first_pass"  # noqa: S105 (a bar cause, not a secret)
_DOUBLE_CHECKED = select(ReviewTask.household_id, ReviewTask.recording_id).where(
    ReviewTask.lease_id == bindparam("lease_id"), ReviewTask.wants_second
)
"""The household and recording of a leased task whose submit queues a second task (built once)."""


def queue_second(session: Session, task: ReviewTask, annotator: str, now: datetime) -> ReviewTask:
    """A ``double_check`` task after ``task``'s annotation, barred to its first ``annotator``."""
    assert task.recording_id is not None
    second = add_task(
        session,
        recording_id=task.recording_id,
        household_id=task.household_id,
        duration_s=task.duration_s,
        reason=Reason.DOUBLE_CHECK.value,
        now=now,
        first_task_id=task.id,
    )
    session.add(TaskBar(task_id=second.id, annotator=annotator, cause=FIRST_PASS, at=now))
    session.flush()
    return second


def _record(
    session: Session, task: ReviewTask, annotator: str, answer: AnnotationInput, now: datetime
) -> Annotation:
    assert task.recording_id is not None and task.leased_at is not None
    row = Annotation(
        id=new_short_id(),
        task_id=task.id,
        recording_id=task.recording_id,
        annotator=annotator,
        started_at=task.leased_at,
        submitted_at=now,
        **{flag.value: True for flag in answer.flags},
    )
    session.add(row)  # written by the submit's one flush (or a query's autoflush before it)
    return row


def submit(
    session: Session,
    gate: ContentGate,
    lease_id: str,
    annotator: str,
    answer: AnnotationInput,
    policy: ReviewPolicy,
    *,
    now: datetime,
) -> Annotation:
    """Store ``answer`` for the leased task, sealed; LeaseExpired if the lease is no longer live."""
    row, event = record_submit(session, gate, lease_id, annotator, answer, policy, now=now)
    audit.append_now(session, **event)
    return row


def record_submit(
    session: Session,
    gate: ContentGate,
    lease_id: str,
    annotator: str,
    answer: AnnotationInput,
    policy: ReviewPolicy,
    *,
    now: datetime,
) -> tuple[Annotation, dict[str, Any]]:
    """``submit`` but for its audit event: the annotation (flushed) and the ``review.submit``
    event's fields, which the caller must append in this same transaction before it commits —
    after row locks of its own (a claim's), so that the audit chain's lock stays the last taken."""
    done = {
        "state": TaskState.DONE.value,
        "lease_until": None,
        "done_by": annotator,
        "done_at": now,
    }
    # Most tasks want no second pass and need no holds: their lease ends in the first statement.
    task = end_single_pass_lease(session, lease_id, annotator, now, done)
    if task is None:
        double_checked = session.execute(_DOUBLE_CHECKED, {"lease_id": lease_id}).first()
        if double_checked is not None:
            # Before the task's row, as a deletion and turning review off take them: either waits
            # for this commit and withdraws the second task queued below, or ended the lease
            # first. The recording first, as the rendition job holds it before the household.
            hold_against_deletion(session, [double_checked.recording_id or ""])
            hold_consent(session, double_checked.household_id)
        task = end_lease(session, lease_id, annotator, now, done)
    # With its key row, which the sealing of the answer then finds loaded (held until the return).
    loaded = recording_and_key(session, task.recording_id) if task.recording_id else None
    if loaded is None:
        raise LeaseExpired("this clip is no longer available")
    recording = loaded[0]
    # Rolled back with the lease's end: the annotator keeps the clip and may submit again.
    refuse_unheard(session, recording.household_id, recording.id)
    row = _record(session, task, annotator, answer, now)
    # Row locks first (flags withdraw other tasks), audited gate opens last: no lock-order cycles.
    run_flag_hooks(session, answer.flags, FlagEvent(recording.id, task.id, row.id, annotator, now))
    sensitive = Flag.SENSITIVE in answer.flags
    if task.wants_second and not sensitive:
        queue_second(session, task, annotator, now)
    seal_answer(session, gate, recording, annotation_kind(row.id), answer, new=True)
    if task.reason == Reason.GOLD.value and task.gold_id is not None:
        gold.score(session, gate, recording, task.gold_id, row, answer)
    first = agreement.first_annotation(session, task) if task.first_task_id else None
    if first is not None and not sensitive:
        agreement.compare(session, gate, recording, first, row, answer, policy, now)
    # The annotation and its sealed answer in one flush, their row locks before the audit lock.
    session.flush()
    event = {
        "actor": annotator,
        "action": "review.submit",
        "subject": recording.id,
        "household_id": recording.household_id,
        "reason": task.reason,
        "details": {"task": task.id, "annotation": row.id, "flags": sorted(answer.flags)},
        "now": now,
    }
    return row, event
