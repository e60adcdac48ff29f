"""Deleting recordings withdraws their review tasks and deletes annotations, agreements and gold."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from overheard.db import transaction
from overheard.recordings.deletion import DELETION_HOOKS, delete_recordings
from overheard.recordings.models import SealedText
from overheard.review import hooks
from overheard.review.annotations import submit
from overheard.review.content import AnnotationInput
from overheard.review.flags import emergency_queue, is_excluded
from overheard.review.models import Agreement, Annotation, ReviewTask, TaskState
from overheard.review.policy import Flag
from overheard.review.queue import claim, lease_is_live

from .conftest import T0, later


@pytest.fixture
def registered():
    saved = list(DELETION_HOOKS)
    hooks.register()
    hooks.register()  # idempotent
    assert DELETION_HOOKS.count(hooks.on_recordings_deleted) == 1
    yield
    DELETION_HOOKS[:] = saved


def _work(platform, who, policy, rng, answer, now):
    with transaction(platform.sessions) as s:
        lease = claim(s, who, policy, rng=rng, now=now)
        submit(s, platform.gate, lease.lease_id, who, answer, policy, now=now)


def test_deleting_recordings_removes_every_review_copy(
    registered, platform, make_home, make_tasks, policy, rng
):
    home = make_home()
    double = replace(policy, double_share=1.0)
    make_tasks(1, home=home, double_share=1.0)
    _work(
        platform,
        "R-0001",
        double,
        rng,
        AnnotationInput("stop", "stop", frozenset({Flag.EMERGENCY})),
        T0,
    )
    _work(platform, "R-0002", double, rng, AnnotationInput("stop it", "stop"), later(1))
    make_tasks(1, home=home)
    with transaction(platform.sessions) as s:
        held = claim(s, "R-0003", policy, rng=rng, now=later(2))
    with platform.sessions() as s:
        ids = list(s.scalars(select(ReviewTask.recording_id).distinct()))
        assert s.scalar(select(func.count()).select_from(Agreement)) == 1
        assert s.scalar(select(func.count()).select_from(SealedText)) == 2
    receipt = delete_recordings(
        platform, home.household_id, ids, actor="customer", scope={"kind": "ids"}, now=later(3)
    )
    counts = receipt.body["counts"]
    assert counts["review_tasks_withdrawn"] == 1
    assert counts["review_annotations"] == 2 and counts["review_gold"] == 0
    assert counts["derived_texts"] == 2
    with platform.sessions() as s:
        assert not lease_is_live(s, held.lease_id, now=later(3))
        assert s.scalars(select(Annotation)).all() == []
        assert s.scalars(select(Agreement)).all() == []
        assert s.scalars(select(SealedText)).all() == []
        tasks = s.scalars(select(ReviewTask)).all()
        (report,) = emergency_queue(s)
    # Task rows stay (withdrawn or done, no recording) so caps and stats still count them.
    assert {t.recording_id for t in tasks} == {None}
    assert sorted(t.state for t in tasks) == [TaskState.DONE.value] * 2 + [
        TaskState.WITHDRAWN.value
    ]
    assert report.recording_deleted_at is not None


def test_exclusions_outlive_the_recording(registered, platform, make_home, make_tasks, policy, rng):
    home = make_home()
    make_tasks(1, home=home)
    _work(
        platform, "R-0001", policy, rng, AnnotationInput("", None, frozenset({Flag.SENSITIVE})), T0
    )
    with platform.sessions() as s:
        rec_id = s.scalars(select(Annotation.recording_id)).one()
    delete_recordings(
        platform, home.household_id, [rec_id], actor="customer", scope={"kind": "ids"}
    )
    with platform.sessions() as s:
        assert is_excluded(s, rec_id)
