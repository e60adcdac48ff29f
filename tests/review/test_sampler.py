"""The sampler: only transcribed recordings of consenting households, drawn at rate, capped, audited."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.recordings.models import Status
from overheard.review.models import ReviewTask
from overheard.review.policy import Reason, ReviewPolicy
from overheard.review.sampler import draw_reason, sample_after_transcription

from .conftest import T0, later

LOW_ON = ReviewPolicy(sample_rate=0.01, low_confidence_rate=0.2, low_confidence_below=0.5)


@pytest.mark.parametrize(
    ("u", "confidence", "expected"),
    [
        (0.005, 0.9, Reason.RANDOM),
        (0.005, 0.1, Reason.RANDOM),  # a random pick stays random whatever the confidence
        (0.05, 0.1, Reason.LOW_CONFIDENCE),
        (0.05, 0.9, None),
        (0.05, None, None),
        (0.25, 0.1, None),
    ],
)
def test_draw_reason(u, confidence, expected):
    assert draw_reason(u, confidence, LOW_ON) is expected


@pytest.mark.parametrize(
    ("weakest", "expected"),
    [(0.1, Reason.LOW_CONFIDENCE), (0.35, None), (None, None)],
)
def test_one_unsure_word_makes_a_confident_utterance_low_confidence(weakest, expected):
    policy = ReviewPolicy(
        sample_rate=0.01, low_confidence_rate=0.2, low_word_confidence_below=0.3
    )
    assert draw_reason(0.05, 0.9, policy, weakest) is expected
    assert draw_reason(0.05, 0.9, LOW_ON, weakest) is None  # words ignored when the bound is 0


def test_low_confidence_is_off_by_default():
    assert draw_reason(0.005, 0.0, ReviewPolicy()) is Reason.RANDOM
    assert draw_reason(0.02, 0.0, ReviewPolicy()) is None


def _decide(platform, rec, policy, rng, now=T0):
    with transaction(platform.sessions) as s:
        task = sample_after_transcription(s, s.merge(rec), policy, rng, now)
        return None if task is None else task.id


def _decisions(platform) -> list[tuple[str, str]]:
    with platform.sessions() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "review.sample").order_by(AuditEvent.seq)
        )
        return [(e.subject, e.reason) for e in events]


@pytest.mark.parametrize("status", [Status.ACCIDENTAL, Status.NO_SPEECH, Status.FAILED])
def test_only_transcribed_recordings_are_eligible(platform, make_home, add_recordings, status):
    rec = add_recordings(make_home(), status=status)[0]
    assert _decide(platform, rec, ReviewPolicy(sample_rate=1.0), random.Random(0)) is None
    assert _decisions(platform) == [(rec.id, "not_eligible")]


def test_household_without_consent_is_never_sampled(platform, make_home, add_recordings):
    recs = add_recordings(make_home(consent=False), 3)
    for rec in recs:
        assert _decide(platform, rec, ReviewPolicy(sample_rate=1.0), random.Random(0)) is None
    assert _decisions(platform) == [(r.id, "no_consent") for r in recs]


def test_sampled_task_stores_its_reason_and_the_decision_is_audited(
    platform, make_home, add_recordings
):
    home = make_home()
    rec = add_recordings(home, confidence=0.2)[0]
    policy = ReviewPolicy(sample_rate=0.0, low_confidence_rate=1.0, double_share=0.0)
    task_id = _decide(platform, rec, policy, random.Random(0))
    with platform.sessions() as s:
        task = s.get(ReviewTask, task_id)
        assert (task.reason, task.recording_id, task.state) == ("low_confidence", rec.id, "queued")
        assert task.pseudonym.startswith("C-") and rec.id not in task.pseudonym
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.sample")).one()
    assert event.reason == "sampled" and event.household_id == home.household_id
    assert event.details == {
        "decision": "sampled",
        "draw": "low_confidence",
        "task": task_id,
        "double": False,
    }


def test_not_drawn_is_audited(platform, make_home, add_recordings):
    rec = add_recordings(make_home())[0]
    assert _decide(platform, rec, ReviewPolicy(sample_rate=0.0), random.Random(0)) is None
    assert _decisions(platform) == [(rec.id, "not_drawn")]


def test_cap_counts_a_rolling_window(platform, make_home, add_recordings):
    home = make_home()
    policy = ReviewPolicy(sample_rate=1.0, household_cap=2, cap_window_s=100.0)
    recs = add_recordings(home, 5)
    rng = random.Random(0)
    got = [
        _decide(platform, recs[0], policy, rng, T0),
        _decide(platform, recs[1], policy, rng, later(50)),
        _decide(platform, recs[2], policy, rng, later(100)),  # T0 is still inside [0, 100]
        _decide(platform, recs[3], policy, rng, later(100.001)),  # T0 has left the window
        _decide(platform, recs[4], policy, rng, later(120)),
    ]
    assert [g is not None for g in got] == [True, True, False, True, False]
    assert [d for _, d in _decisions(platform)] == [
        "sampled",
        "sampled",
        "cap_reached",
        "sampled",
        "cap_reached",
    ]


def test_a_recording_is_sampled_once(platform, make_home, add_recordings):
    rec = add_recordings(make_home())[0]
    policy = ReviewPolicy(sample_rate=1.0)
    assert _decide(platform, rec, policy, random.Random(0)) is not None
    assert _decide(platform, rec, policy, random.Random(0)) is None
    with platform.sessions() as s:
        assert len(s.scalars(select(ReviewTask)).all()) == 1


def test_decisions_follow_the_injected_randomness(platform, make_home, add_recordings):
    home = make_home()
    recs = add_recordings(home, 40)
    policy = ReviewPolicy(sample_rate=0.3, household_cap=100)
    got = [_decide(platform, r, policy, random.Random(i)) is not None for i, r in enumerate(recs)]
    expected = [random.Random(i).random() < 0.3 for i in range(40)]
    assert got == expected
