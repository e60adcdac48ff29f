"""Gold tasks: made by a lead from a reviewed clip, mixed into claims, scored; annotator stats."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.errors import Conflict
from overheard.review.annotations import submit
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.gold import make_gold
from overheard.review.models import GoldItem, ReviewTask
from overheard.review.queue import claim, skip, task_view
from overheard.review.stats import annotator_stats

from .conftest import T0, later

TRUTH = AnnotationInput("what time is it in tokyo", "time")


def _claim(platform, who, policy, now, rng=None):
    with transaction(platform.sessions) as s:
        return claim(s, who, policy, rng=rng or random.Random(0), now=now)


def _submit(platform, lease, who, answer, policy, now):
    with transaction(platform.sessions) as s:
        return submit(s, platform.gate, lease.lease_id, who, answer, policy, now=now)


@pytest.fixture
def gold(platform, make_tasks, policy):
    """A gold item made from a clip R-0001 annotated; returns (gold id, recording id)."""
    (task_id,) = make_tasks(1)
    lease = _claim(platform, "R-0001", policy, T0)
    row = _submit(platform, lease, "R-0001", TRUTH, policy, later(10))
    with transaction(platform.sessions) as s:
        rec_id = s.get(ReviewTask, task_id).recording_id
        item = make_gold(
            s, platform.gate, rec_id, "R-lead", from_annotation_id=row.id, now=later(20)
        )
    return item.id, rec_id


def test_gold_needs_a_reviewed_recording(platform, make_tasks):
    (task_id,) = make_tasks(1)
    with platform.sessions() as s:
        rec_id = s.get(ReviewTask, task_id).recording_id
    with pytest.raises(Conflict, match="reviewed"), transaction(platform.sessions) as s:
        make_gold(s, platform.gate, rec_id, "R-lead", answer=TRUTH, now=T0)


def test_gold_is_served_disguised_and_scored(platform, gold, policy):
    gold_id, _ = gold
    gold_policy = replace(policy, gold_share=1.0)
    lease = _claim(platform, "R-0002", gold_policy, later(30))
    assert lease.task.gold is None and lease.task.reason is None  # looks like any other task
    with platform.sessions() as s:
        task = s.get(ReviewTask, lease.task.task_id)
        assert (task.reason, task.gold_id) == ("gold", gold_id)
        assert task_view(task, lead=True).gold is True
    answer = AnnotationInput("what time is it in kyoto", "time")
    row = _submit(platform, lease, "R-0002", answer, gold_policy, later(40))
    assert row.gold_wer == pytest.approx(1 / 6) and row.gold_intent_correct is True
    with platform.sessions() as s:
        stats = annotator_stats(s, "R-0002")
    assert (stats.gold_done, stats.gold_intent_accuracy) == (1, 1.0)
    assert stats.gold_mean_wer == pytest.approx(1 / 6)
    assert stats.clips_done == 1 and stats.minutes_listened == pytest.approx(2.5 / 60)
    # Served once per annotator; the queue is empty otherwise.
    assert _claim(platform, "R-0002", gold_policy, later(50)) is None


def test_gold_never_goes_to_its_own_annotator(platform, gold, policy):
    assert _claim(platform, "R-0001", replace(policy, gold_share=1.0), later(30)) is None


def test_gold_share_mixes_gold_into_claims(platform, gold, make_tasks, policy):
    make_tasks(20)
    half = replace(policy, gold_share=0.5)
    got = [
        _reason(platform, _claim(platform, f"R-1{i:03d}", half, later(30), random.Random(i)))
        for i in range(20)
    ]
    expected = ["gold" if random.Random(i).random() < 0.5 else "random" for i in range(20)]
    assert got == expected and 0 < got.count("gold") < 20


def _reason(platform, lease):
    with platform.sessions() as s:
        return s.get(ReviewTask, lease.task.task_id).reason


def test_consent_off_retires_gold(platform, gold, policy):
    gold_id, _ = gold
    with platform.sessions() as s:
        household = s.scalars(select(GoldItem.household_id)).one()
    with transaction(platform.sessions) as s:
        set_human_review(s, household, False, actor="customer", now=later(25))
    with platform.sessions() as s:
        assert s.get(GoldItem, gold_id).active is False
    assert _claim(platform, "R-0002", replace(policy, gold_share=1.0), later(30)) is None


def test_stats_count_skips_and_listening(platform, make_tasks, policy):
    make_tasks(2)
    lease = _claim(platform, "R-0004", policy, T0)
    with transaction(platform.sessions) as s:
        skip(s, lease.lease_id, "R-0004", "not_english", now=later(5))
    lease = _claim(platform, "R-0004", policy, later(6))
    _submit(platform, lease, "R-0004", TRUTH, policy, later(20))
    with platform.sessions() as s:
        stats = annotator_stats(s, "R-0004")
        nobody = annotator_stats(s, "R-none")
    assert (stats.clips_done, stats.skips, stats.gold_done) == (1, 1, 0)
    assert stats.minutes_listened == pytest.approx(5.0 / 60)
    assert stats.gold_mean_wer is None and stats.gold_intent_accuracy is None
    assert (nobody.clips_done, nobody.minutes_listened) == (0, 0.0)
