"""Undo: an annotator takes back their last submission while its lease would still have lived, and
gets the clip back under the same lease. Refused once anything was built on the answer."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import Conflict, NotFound
from ..recordings import voice_delete
from ..recordings.models import Recording, SealedText
from .consent import hold_consent_for
from .content import annotation_kind
from .flags import is_excluded
from .models import Agreement, Annotation, ReviewTask, TaskState
from .policy import Reason, ReviewPolicy
from .queue import Lease, held_by, lease_of


class UndoRefused(Conflict):
    """The submission can no longer be taken back (the message says why)."""

    code = "undo_refused"


def undo_submit(
    session: Session, annotation_id: str, annotator: str, policy: ReviewPolicy, *, now: datetime
) -> Lease:
    """Delete ``annotator``'s annotation and lease its task to them again; what they held instead
    goes back to the queue (no bar: they never answered it)."""
    row = session.scalars(
        select(Annotation).where(Annotation.id == annotation_id).with_for_update()
    ).first()
    if row is None or row.annotator != annotator or row.kind != "review":
        raise NotFound("no such submission of yours", code="undo_not_found")
    task = session.get(ReviewTask, row.task_id)
    assert task is not None
    _check_undoable(session, row, task, policy, now)
    _release_held(session, annotator, now)
    session.execute(delete(ReviewTask).where(ReviewTask.first_task_id == task.id))
    session.execute(
        delete(SealedText).where(
            SealedText.recording_id == row.recording_id, SealedText.kind == annotation_kind(row.id)
        )
    )
    session.delete(row)
    task.state, task.done_by, task.done_at = TaskState.LEASED.value, None, None
    task.leased_to, task.lease_until = annotator, now + timedelta(seconds=policy.lease_s)
    session.flush()
    audit.append(
        session,
        actor=annotator,
        action="review.undo",
        subject=task.recording_id,
        household_id=task.household_id,
        details={"task": task.id, "annotation": annotation_id},
        now=now,
    )
    return lease_of(task)


def _check_undoable(
    session: Session, row: Annotation, task: ReviewTask, policy: ReviewPolicy, now: datetime
) -> None:
    if now - row.submitted_at > timedelta(seconds=policy.lease_s):
        raise UndoRefused("too late to undo: the clip's lease would have ended")
    if row.sensitive or row.emergency:
        raise UndoRefused("a sensitive or emergency flag has already been acted on")
    if task.reason == Reason.GOLD.value or task.state != TaskState.DONE.value:
        raise UndoRefused("this answer is final")
    compared = session.scalar(
        select(Agreement.id).where(
            or_(Agreement.first_annotation_id == row.id, Agreement.second_annotation_id == row.id)
        )
    )
    started = session.scalar(
        select(ReviewTask.id).where(
            ReviewTask.first_task_id == task.id, ReviewTask.state != TaskState.QUEUED.value
        )
    )
    if compared is not None or started is not None:
        raise UndoRefused("another annotator has already worked on this clip")
    _check_still_in_review(session, task, now)


def _check_still_in_review(session: Session, task: ReviewTask, now: datetime) -> None:
    """A clip that left review since the answer (the household turned review off, a flag or a
    lead excluded it, a voice deletion may name it) is not leased again by an undo."""
    recording = session.get(Recording, task.recording_id)
    if recording is None or not hold_consent_for(session, recording):
        raise UndoRefused("this clip is no longer in review")
    if is_excluded(session, recording.id) or voice_delete.pending_near(session, recording, now):
        raise UndoRefused("this clip is no longer in review")


def _release_held(session: Session, annotator: str, now: datetime) -> None:
    held = held_by(session, annotator, now)
    if held is not None:
        held.state, held.leased_to, held.lease_id, held.lease_until = (
            TaskState.QUEUED.value,
            None,
            None,
            None,
        )
        session.flush()

