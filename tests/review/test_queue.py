"""The queue: one live lease per annotator, expiry and heartbeat, skips, what a reviewer is shown."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.errors import BadRequest, Conflict
from overheard.review.annotations import submit
from overheard.review.content import AnnotationInput
from overheard.review.errors import LeaseExpired
from overheard.review.models import ReviewTask
from overheard.review.queue import TaskView, claim, heartbeat, lease_is_live, skip, task_view

from .conftest import T0, later


def _claim(platform, who, policy, rng, now=T0):
    with transaction(platform.sessions) as s:
        return claim(s, who, policy, rng=rng, now=now)


def test_reviewer_sees_pseudonym_id_and_duration_only(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    assert [f.name for f in dataclasses.fields(TaskView)] == [
        "pseudonym",
        "task_id",
        "duration_s",
        "reason",
        "gold",
    ]
    assert lease.task == TaskView(lease.task.pseudonym, task_id, 2.5, None, None)
    with platform.sessions() as s:
        task = s.get(ReviewTask, task_id)
        assert task_view(task, lead=True).reason == "random"
        assert task_view(task, lead=True).gold is False
        assert task.household_id not in repr(lease) and task.recording_id not in repr(lease)


def test_one_task_at_a_time(platform, make_tasks, policy, rng):
    make_tasks(3)
    first = _claim(platform, "R-0001", policy, rng)
    again = _claim(platform, "R-0001", policy, rng, later(10))
    assert again == first
    other = _claim(platform, "R-0002", policy, rng, later(10))
    assert other.task.task_id != first.task.task_id


def test_empty_queue_gives_nothing(platform, policy, rng):
    assert _claim(platform, "R-0001", policy, rng) is None


def test_expired_lease_returns_the_task_and_cannot_act(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    assert lease.expires_at == later(policy.lease_s)
    assert _claim(platform, "R-0002", policy, rng, later(policy.lease_s)) is None  # still live
    taken = _claim(platform, "R-0002", policy, rng, later(policy.lease_s + 1))
    assert taken.task.task_id == task_id and taken.lease_id != lease.lease_id
    with platform.sessions() as s:
        assert not lease_is_live(s, lease.lease_id, now=later(policy.lease_s + 2))
        assert lease_is_live(s, taken.lease_id, now=later(policy.lease_s + 2))
    with pytest.raises(LeaseExpired) as raised, transaction(platform.sessions) as s:
        heartbeat(s, lease.lease_id, "R-0001", policy, now=later(policy.lease_s + 2))
    assert isinstance(raised.value, Conflict) and raised.value.status == 409
    with pytest.raises(LeaseExpired), transaction(platform.sessions) as s:
        answer = AnnotationInput("turn on the lights", "lights_on")
        submit(
            s,
            platform.gate,
            lease.lease_id,
            "R-0001",
            answer,
            policy,
            now=later(policy.lease_s + 2),
        )


def test_heartbeat_extends_the_lease(platform, make_tasks, policy, rng):
    make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    with transaction(platform.sessions) as s:
        renewed = heartbeat(s, lease.lease_id, "R-0001", policy, now=later(250))
    assert renewed.expires_at == later(250 + policy.lease_s)
    assert _claim(platform, "R-0002", policy, rng, later(policy.lease_s + 100)) is None
    with platform.sessions() as s:
        assert lease_is_live(s, lease.lease_id, now=later(policy.lease_s + 100))


def test_only_the_holder_can_use_a_lease(platform, make_tasks, policy, rng):
    make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    with pytest.raises(LeaseExpired), transaction(platform.sessions) as s:
        heartbeat(s, lease.lease_id, "R-0002", policy, now=later(1))
    with pytest.raises(LeaseExpired), transaction(platform.sessions) as s:
        skip(s, lease.lease_id, "R-0002", "other", now=later(1))


def test_skipped_task_goes_back_but_not_to_the_same_annotator(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    with transaction(platform.sessions) as s:
        skip(s, lease.lease_id, "R-0001", "cannot_hear", now=later(5))
    with platform.sessions() as s:
        assert not lease_is_live(s, lease.lease_id, now=later(5))
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.skip")).one()
        assert (event.actor, event.reason) == ("R-0001", "cannot_hear")
    assert _claim(platform, "R-0001", policy, rng, later(6)) is None
    assert _claim(platform, "R-0002", policy, rng, later(6)).task.task_id == task_id


def test_skip_reason_comes_from_a_fixed_list(platform, make_tasks, policy, rng):
    make_tasks(1)
    lease = _claim(platform, "R-0001", policy, rng)
    with pytest.raises(BadRequest), transaction(platform.sessions) as s:
        skip(s, lease.lease_id, "R-0001", "bored", now=later(5))


def test_claims_are_audited_with_the_pseudonym(platform, make_tasks, policy, rng):
    (task_id,) = make_tasks(1)
    _claim(platform, "R-0001", policy, rng)
    with platform.sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.claim")).one()
        task = s.get(ReviewTask, task_id)
    assert (event.actor, event.subject, event.household_id) == (
        "R-0001",
        task.recording_id,
        task.household_id,
    )
    assert event.details == {"task": task_id}
