"""Double annotation: a second pass by someone else, WER and intent agreement, adjudication."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.errors import BadRequest, Conflict
from overheard.recordings.models import Recording
from overheard.review.agreement import (
    adjudicate,
    adjudication_queue,
    intents_agree,
    word_error_rate,
)
from overheard.review.annotations import submit
from overheard.review.content import AnnotationInput, annotation_kind, open_answer
from overheard.review.models import Agreement, Annotation, ReviewTask
from overheard.review.policy import Flag
from overheard.review.queue import claim

from .conftest import T0, later


@pytest.mark.parametrize(
    ("ref", "hyp", "wer"),
    [
        ("turn on the lights", "turn on the lights", 0.0),
        ("Turn on the lights.", "turn on the lights", 0.0),
        ("turn on the lights", "turn off the lights", 0.25),
        ("turn on the lights", "turn on lights please", 0.5),
        ("", "", 0.0),
        ("", "hello", 1.0),
        ("hello there", "", 1.0),
    ],
)
def test_word_error_rate(ref, hyp, wer):
    assert word_error_rate(ref, hyp) == pytest.approx(wer)


def test_intents_agree_ignoring_case_and_space():
    assert intents_agree("Weather ", "weather") and intents_agree(None, "")
    assert not intents_agree("weather", "timer")


def _pass(platform, who, answer, policy, rng, now):
    with transaction(platform.sessions) as s:
        lease = claim(s, who, policy, rng=rng, now=now)
        assert lease is not None, f"{who} found nothing to claim"
        row = submit(s, platform.gate, lease.lease_id, who, answer, policy, now=now)
        return lease, row


def _disagreeing_passes(platform, policy, rng):
    """Two reviewers' answers to one clip that disagree on the words (same intent); both rows."""
    _, first = _pass(
        platform, "R-0001", AnnotationInput("set a timer for ten minutes", "timer"), policy, rng, T0
    )
    _, second = _pass(
        platform,
        "R-0002",
        AnnotationInput("set the timer for two minutes", "timer"),
        policy,
        rng,
        later(1),
    )
    return first, second


@pytest.fixture
def double_policy(policy):
    from overheard.review.policy import ReviewPolicy

    return ReviewPolicy(**{**policy.__dict__, "double_share": 1.0})


def test_second_pass_goes_to_someone_else(platform, make_tasks, double_policy, rng):
    (first_task,) = make_tasks(1, double_share=1.0)
    answer = AnnotationInput("what's the weather in leeds", "weather")
    _pass(platform, "R-0001", answer, double_policy, rng, T0)
    with transaction(platform.sessions) as s:
        assert claim(s, "R-0001", double_policy, rng=rng, now=later(1)) is None
    lease, _ = _pass(platform, "R-0002", answer, double_policy, rng, later(2))
    with platform.sessions() as s:
        second = s.get(ReviewTask, lease.task.task_id)
        (agreement,) = s.scalars(select(Agreement)).all()
    assert (second.reason, second.first_task_id) == ("double_check", first_task)
    assert (agreement.wer, agreement.intent_agree, agreement.state) == (0.0, True, "agreed")
    assert lease.task.pseudonym != ""  # its own pseudonym, not the first task's
    with platform.sessions() as s:
        assert lease.task.pseudonym != s.get(ReviewTask, first_task).pseudonym
    # The second pass is not drawn for a third.
    with transaction(platform.sessions) as s:
        assert claim(s, "R-0003", double_policy, rng=rng, now=later(3)) is None


def test_disagreement_goes_to_a_lead_who_can_choose(platform, make_tasks, double_policy, rng):
    make_tasks(1, double_share=1.0)
    first, second = _disagreeing_passes(platform, double_policy, rng)
    with platform.sessions() as s:
        (item,) = adjudication_queue(s)
    assert item.wer == pytest.approx(2 / 6) and item.intent_agree
    assert (item.first_annotation_id, item.second_annotation_id) == (first.id, second.id)
    assert item.task_pseudonym.startswith("C-")
    with pytest.raises(BadRequest), transaction(platform.sessions) as s:
        adjudicate(s, platform.gate, item.agreement_id, "R-lead", now=later(5))
    with transaction(platform.sessions) as s:
        final = adjudicate(
            s,
            platform.gate,
            item.agreement_id,
            "R-lead",
            chosen_annotation_id=first.id,
            now=later(5),
        )
    assert final == first.id
    with platform.sessions() as s:
        assert adjudication_queue(s) == []
        row = s.get(Agreement, item.agreement_id)
        assert (row.state, row.resolved_by, row.resolved_annotation_id) == (
            "resolved",
            "R-lead",
            first.id,
        )
    with pytest.raises(Conflict), transaction(platform.sessions) as s:
        adjudicate(
            s,
            platform.gate,
            item.agreement_id,
            "R-lead",
            chosen_annotation_id=first.id,
            now=later(6),
        )


def test_intent_disagreement_alone_needs_a_lead_who_can_correct(
    platform, make_tasks, double_policy, rng
):
    make_tasks(1, double_share=1.0)
    text = "play something by the beatles"
    _pass(platform, "R-0001", AnnotationInput(text, "play_music"), double_policy, rng, T0)
    _pass(platform, "R-0002", AnnotationInput(text, "shopping"), double_policy, rng, later(1))
    with platform.sessions() as s:
        (item,) = adjudication_queue(s)
    assert (item.wer, item.intent_agree) == (0.0, False)
    for empty in ("", "   "):
        with pytest.raises(BadRequest) as refused, transaction(platform.sessions) as s:
            blank = AnnotationInput(empty.strip(), "play_music")
            adjudicate(s, platform.gate, item.agreement_id, "R-lead", corrected=blank, now=later(4))
        assert refused.value.code == "empty_correction"
    with platform.sessions() as s:
        assert [i.agreement_id for i in adjudication_queue(s)] == [item.agreement_id]
    corrected = AnnotationInput(text, "play_music")
    with transaction(platform.sessions) as s:
        final = adjudicate(
            s, platform.gate, item.agreement_id, "R-lead", corrected=corrected, now=later(5)
        )
    with platform.sessions() as s:
        row = s.get(Annotation, final)
        rec = s.get(Recording, row.recording_id)
        opened = open_answer(s, platform.gate, rec, annotation_kind(final), actor="t", purpose="t")
    assert (row.kind, row.annotator) == ("adjudication", "R-lead")
    assert opened.intent == "play_music"


def test_an_empty_correction_stands_when_a_flag_says_why(platform, make_tasks, double_policy, rng):
    make_tasks(1, double_share=1.0)
    _pass(platform, "R-0001", AnnotationInput("turn it up", "volume"), double_policy, rng, T0)
    _pass(
        platform, "R-0002", AnnotationInput("turn it off", "lights"), double_policy, rng, later(1)
    )
    with platform.sessions() as s:
        (item,) = adjudication_queue(s)
    corrected = AnnotationInput("", None, frozenset({Flag.UNINTELLIGIBLE}))
    with transaction(platform.sessions) as s:
        final = adjudicate(
            s, platform.gate, item.agreement_id, "R-lead", corrected=corrected, now=later(5)
        )
    with platform.sessions() as s:
        assert s.get(Annotation, final).kind == "adjudication"
        assert adjudication_queue(s) == []


def test_small_wer_within_threshold_agrees(platform, make_tasks, double_policy, rng):
    make_tasks(1, double_share=1.0)
    words = "please add milk eggs bread butter cheese and apples to the list"
    _pass(platform, "R-0001", AnnotationInput(words, "shopping"), double_policy, rng, T0)
    _pass(
        platform,
        "R-0002",
        AnnotationInput(words.replace("apples", "apple"), "shopping"),
        double_policy,
        rng,
        later(1),
    )
    with platform.sessions() as s:
        (agreement,) = s.scalars(select(Agreement)).all()
    assert agreement.wer == pytest.approx(1 / 12) and agreement.state == "agreed"


def test_a_clip_settled_on_its_second_pass_reads_as_reviewed_with_its_first_tasks_reason(
    platform, make_tasks, double_policy, rng
):
    """Exports, training and held-out reads take a clip's label from the annotation its review
    settled on; when that is the second pass's, the reason is looked up from the first task."""
    from overheard.learn.reviewed import reviewed_clips

    (first_task,) = make_tasks(1, double_share=1.0)
    _first, second = _disagreeing_passes(platform, double_policy, rng)
    with transaction(platform.sessions) as s:
        (item,) = adjudication_queue(s)
        adjudicate(
            s,
            platform.gate,
            item.agreement_id,
            "R-lead",
            chosen_annotation_id=second.id,
            now=later(5),
        )
    with platform.sessions() as s:
        (clip,) = reviewed_clips(s)
        first_reason = s.get_one(ReviewTask, first_task).reason
    assert (clip.annotation_id, clip.reason) == (second.id, first_reason)
