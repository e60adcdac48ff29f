"""Submitting: content sealed through the gate, flags plaintext and acted on, leases enforced."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from overheard.audit import AuditEvent, verify_chain
from overheard.db import transaction
from overheard.errors import BadRequest
from overheard.recordings.models import Recording, SealedText
from overheard.review.annotations import submit
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput, annotation_kind, open_answer
from overheard.review.errors import LeaseExpired
from overheard.review.flags import emergency_queue, is_excluded
from overheard.review.models import Annotation, ReviewTask, TaskState
from overheard.review.policy import Flag
from overheard.review.queue import claim, lease_is_live

from .conftest import T0, later

ANSWER = AnnotationInput("turn on the kitchen lights", "lights_on")


def _claim(platform, who, policy, rng, now=T0):
    with transaction(platform.sessions) as s:
        return claim(s, who, policy, rng=rng, now=now)


SUBMITTED_AT = later(30)


def _submit(platform, lease, who, answer, policy, now=SUBMITTED_AT):
    with transaction(platform.sessions) as s:
        return submit(s, platform.gate, lease.lease_id, who, answer, policy, now=now)


def test_submit_seals_the_content_and_keeps_metadata_plain(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    row = _submit(platform, lease, "R-0001", ANSWER, policy)
    with platform.sessions() as s:
        task = s.get(ReviewTask, task_id)
        assert (task.state, task.done_by) == (TaskState.DONE.value, "R-0001")
        assert not lease_is_live(s, lease.lease_id, now=later(31))
        sealed = s.scalars(
            select(SealedText).where(SealedText.kind == annotation_kind(row.id))
        ).one()
        assert b"kitchen" not in sealed.sealed and b"lights_on" not in sealed.sealed
        stored = s.get(Annotation, row.id)
        assert (stored.annotator, stored.started_at, stored.submitted_at) == (
            "R-0001",
            T0,
            later(30),
        )
        assert not any(getattr(stored, f.value) for f in Flag)
        rec = s.get(Recording, task.recording_id)
        opened = open_answer(
            s, platform.gate, rec, annotation_kind(row.id), actor="R-lead", purpose="test"
        )
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.submit")).one()
    assert (opened.transcript, opened.intent) == (ANSWER.transcript, ANSWER.intent)
    assert event.details == {"task": task_id, "annotation": row.id, "flags": []}
    assert "kitchen" not in repr(event.details)


def test_submit_writes_annotation_and_sealed_answer_in_one_flush_before_the_audit_lock(
    platform, make_tasks, policy, rng
):
    make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    seen: list[str] = []
    flushes: list[object] = []

    def statement(_conn, _cursor, sql, *_rest):  # type: ignore[no-untyped-def]
        seen.append(" ".join(sql.split()))

    def flushed(*_args):  # type: ignore[no-untyped-def]
        flushes.append(None)

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Session, "after_flush", flushed)
    try:
        row = _submit(platform, lease, "R-0001", ANSWER, policy)
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Session, "after_flush", flushed)
    assert len(flushes) == 1  # the annotation and its sealed answer (the audit row is one INSERT)
    assert not [q for q in seen if "FROM sealed_texts" in q]  # a new kind: no earlier text to read
    writes = [q.split(" (")[0] for q in seen if q.startswith("INSERT")]
    assert sorted(writes) == [
        "INSERT INTO audit_events",
        "INSERT INTO review_annotations",
        "INSERT INTO sealed_texts",
    ]
    head = next(i for i, q in enumerate(seen) if "FROM audit_events" in q)
    assert all(
        i < head
        for i, q in enumerate(seen)
        if q.startswith(("INSERT INTO review", "INSERT INTO sealed"))
    )
    with platform.sessions() as s:
        event_row = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.submit")).one()
        assert verify_chain(s).ok
    assert (event_row.actor, event_row.at, event_row.reason) == ("R-0001", SUBMITTED_AT, "random")
    assert event_row.details == {"task": row.task_id, "annotation": row.id, "flags": []}


def test_a_lease_is_spent_by_submitting(platform, make_tasks, policy, rng):
    make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    _submit(platform, lease, "R-0001", ANSWER, policy)
    with pytest.raises(LeaseExpired):
        _submit(platform, lease, "R-0001", ANSWER, policy, later(40))


def test_withdrawn_lease_cannot_submit(platform, make_home, make_tasks, policy, rng):
    home = make_home()
    make_tasks(1, home=home)
    lease = _claim(platform, "R-0001", policy, rng)
    with transaction(platform.sessions) as s:
        set_human_review(s, home.household_id, False, actor="customer", now=later(10))
    with pytest.raises(LeaseExpired) as raised:
        _submit(platform, lease, "R-0001", ANSWER, policy)
    assert raised.value.status == 409 and raised.value.code == "lease_expired"
    with platform.sessions() as s:
        assert s.scalars(select(Annotation)).all() == []


def test_sensitive_flag_withdraws_the_clip_everywhere_and_excludes_it(
    platform, make_tasks, policy, rng
):
    (first,) = make_tasks(1)
    with platform.sessions() as s:
        rec_id = s.get(ReviewTask, first).recording_id
        home = s.get(ReviewTask, first).household_id
    with transaction(platform.sessions) as s:  # a second copy of the same clip, already leased
        from overheard.review._tasks import add_task

        add_task(
            s, recording_id=rec_id, household_id=home, duration_s=2.5, reason="double_check", now=T0
        )
    lease_a = _claim(platform, "R-0001", policy, rng)
    lease_b = _claim(platform, "R-0002", policy, rng)
    flagged = AnnotationInput("", None, frozenset({Flag.SENSITIVE, Flag.UNINTELLIGIBLE}))
    row = _submit(platform, lease_a, "R-0001", flagged, policy)
    with platform.sessions() as s:
        assert not lease_is_live(s, lease_b.lease_id, now=later(31))
        assert is_excluded(s, rec_id)
        stored = s.get(Annotation, row.id)
        assert stored.sensitive and stored.unintelligible and not stored.emergency
        states = sorted(t.state for t in s.scalars(select(ReviewTask)))
    assert states == [TaskState.DONE.value, TaskState.WITHDRAWN.value]
    with pytest.raises(LeaseExpired):
        _submit(platform, lease_b, "R-0002", ANSWER, policy)


def test_emergency_flag_reaches_the_privacy_officer_queue(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    row = _submit(
        platform, lease, "R-0001", AnnotationInput("help", None, frozenset({"emergency"})), policy
    )
    with platform.sessions() as s:
        (report,) = emergency_queue(s)
        rec_id = s.get(ReviewTask, task_id).recording_id
    assert (report.recording_id, report.annotation_id, report.reported_by) == (
        rec_id,
        row.id,
        "R-0001",
    )


def test_unknown_flag_is_refused():
    with pytest.raises(BadRequest, match="nice"):
        AnnotationInput("hello", None, frozenset({"nice"}))
