"""The held-out split and the scores: deterministic, recorded, and measuring what they claim."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from overheard.db import transaction
from overheard.learn.metrics import intent_score, wer
from overheard.learn.models import SplitName
from overheard.learn.split import assign_splits, hashed_split, pin_split


def test_hashed_split_is_deterministic_and_near_its_share():
    ids = [uuid.UUID(int=i).hex for i in range(4000)]
    sides = [hashed_split(i, 20) for i in ids]
    assert sides == [hashed_split(i, 20) for i in ids]
    share = sides.count(SplitName.HELDOUT) / len(ids)
    assert 0.18 < share < 0.22


@pytest.mark.parametrize("percent, expected", [(0, SplitName.TRAIN), (100, SplitName.HELDOUT)])
def test_split_extremes(percent, expected):
    assert {hashed_split(uuid.uuid4().hex, percent) for _ in range(50)} == {expected}


def test_recorded_split_wins_over_a_changed_share(platform):
    pairs = [(uuid.uuid4().hex, uuid.uuid4().hex) for _ in range(40)]  # (recording, household)
    with transaction(platform.sessions) as s:
        first = assign_splits(s, pairs, heldout_percent=20)
    with transaction(platform.sessions) as s:
        again = assign_splits(s, pairs, heldout_percent=90)
    assert again == first


def test_a_pinned_split_cannot_move(platform):
    with transaction(platform.sessions) as s:
        pin_split(s, "r1", SplitName.HELDOUT)
        pin_split(s, "r1", SplitName.HELDOUT)
        with pytest.raises(ValueError, match="already"):
            pin_split(s, "r1", SplitName.TRAIN)


@pytest.mark.parametrize(
    "refs, hyps, expected",
    [
        (["Alexa, stop the music"], ["alexa stop the music"], 0.0),
        (["turn the lights on"], ["turn lights on"], 0.25),
        (["play jazz"], [""], 1.0),
        (["a b", "c d"], ["a b", "c x"], 0.25),
    ],
)
def test_wer(refs, hyps, expected):
    assert wer(refs, hyps) == pytest.approx(expected)


def test_intent_score_accuracy_macro_f1_and_confusion():
    truth = ["a", "a", "b", "b", "c"]
    predicted = ["a", "b", "b", "b", "a"]
    score = intent_score(truth, predicted)
    assert score.accuracy == pytest.approx(0.6)
    # F1: a = 2*0.5*0.5/1 = 0.5, b = 2*(2/3)*1/(5/3) = 0.8, c = 0
    assert score.macro_f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert score.labels == ("a", "b", "c")
    assert np.array_equal(score.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_wake_word_is_left_out_of_what_evaluation_scores():
    from overheard.learn.evaluate import without_wake_words

    assert without_wake_words("Alexa, play some jazz") == "play some jazz"
    assert without_wake_words("alexa what's the weather") == "what's the weather"
    assert without_wake_words("play alexander's song") == "play alexander's song"
