"""The voice-deletion benchmark's plan: enough ordinary speech, and held-out voices and phrasings
kept apart from everything the thresholds were chosen on."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.conftest import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import voice_delete as vd


@pytest.fixture(scope="module")
def planned(shared_data):
    return list(vd.plan(shared_data))


def test_at_least_two_thousand_ordinary_clips_of_real_and_synthesised_speech(planned):
    ordinary = [key for key, _, expected in planned if key[0] == "ordinary"]
    assert all(expected is None for key, _, expected in planned if key[0] == "ordinary")
    assert len(ordinary) >= 2000
    sources = Counter(key[1] for key in ordinary)
    assert {"librispeech", "librivox", "cards", "computer", "seed", "hwu64", "slurp"} <= set(
        sources
    )
    voices = {voice for key, voice, _ in planned if key[0] == "ordinary"}
    assert vd.PIPER_JOE in voices and set(vd.ORDINARY_VOICES) <= voices


def test_held_out_deletions_use_voices_and_phrasings_never_tuned_on(planned):
    tuning = [(key, voice) for key, voice, _ in planned if key[0].startswith("tuning")]
    heldout = [(key, voice) for key, voice, _ in planned if key[0] == "deletion-new"]
    assert len(heldout) == 150
    assert not {v for _, v in tuning} & {v for _, v in heldout}
    assert not {k[2] for k, _ in tuning} & {k[2] for k, _ in heldout}
    assert all(expected for key, _, expected in planned if key[0] == "deletion-new")


def test_hard_first_order_keeps_sets_in_order_and_rotates_sources():
    order = [
        (("yes", "en-us", "yes"), "en-us", None),
        (("ordinary", "librispeech", "a.flac"), "file", None),
        (("ordinary", "librispeech", "b.flac"), "file", None),
        (("ordinary", "hwu64", "what time is it"), "en-us", None),
        (("ordinary", "hwu64", "delete my morning alarm"), "en-gb", None),
        (("ordinary", "slurp", "play some jazz"), "en-us", None),
    ]
    ranked = sorted(order, key=vd.hard_first_rank(order))
    assert [c[0][2] for c in ranked] == [
        "yes",
        "delete my morning alarm",  # a deletion verb in an ordinary text: the likeliest trigger
        "a.flac",
        "what time is it",
        "play some jazz",
        "b.flac",
    ]


def test_a_piper_stand_in_speaks_the_same_ordinary_texts_and_drops_piper_deletions(
    planned, shared_data
):
    stood_in = list(vd.plan(shared_data, "en-us-nyc"))
    ordinary = [(key, voice) for key, voice, _ in planned if key[0] == "ordinary"]
    replaced = [(key, voice) for key, voice, _ in stood_in if key[0] == "ordinary"]
    assert [key for key, _ in replaced] == [key for key, _ in ordinary]  # same texts, same count
    assert [v if v != vd.PIPER_JOE else "en-us-nyc" for _, v in ordinary] == [
        v for _, v in replaced
    ]
    assert vd.PIPER_JOE not in {voice for _, voice, _ in stood_in}
    heldout = [key for key, _, _ in stood_in if key[0] == "deletion-new"]
    assert len(heldout) == 120  # the four espeak-ng held-out voices
