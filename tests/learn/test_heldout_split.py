"""Evaluation that cannot flatter: split by household and sentence, and the external held-out set."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from overheard.db import transaction
from overheard.learn.demo_world import sentences as demo_sentences
from overheard.learn.evaluate import heldout_examples
from overheard.learn.heldout import HELDOUT_VOICES, external_requests, spoken_external
from overheard.learn.models import SplitName
from overheard.learn.split import assign_splits, hashed_split, new_wording, sentence_key
from overheard.speech.seed import seed_requests

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text))


def test_a_household_never_sits_on_both_sides(platform):
    households = [uuid.uuid4().hex for _ in range(60)]
    pairs = [(uuid.uuid4().hex, h) for h in households for _ in range(5)]
    with transaction(platform.sessions) as s:
        sides = assign_splits(s, pairs, heldout_percent=30)
    by_household: dict[str, set[SplitName]] = {}
    for rid, household in pairs:
        by_household.setdefault(household, set()).add(sides[rid])
    assert all(len(found) == 1 for found in by_household.values())
    held = sum(found == {SplitName.HELDOUT} for found in by_household.values())
    assert 0 < held < len(households)  # both sides used
    assert all(sides[rid] is hashed_split(h, 30) for rid, h in pairs)


def test_sentence_key_ignores_wake_word_case_and_punctuation():
    assert sentence_key("Alexa, Turn the LIGHTS off!") == sentence_key("turn the lights off")
    assert sentence_key("turn the lights off") != sentence_key("turn the light off")


def test_new_wording_leaves_out_shared_sentences_and_households():
    train = [("h1", "alexa turn the lights off"), ("h2", "play some jazz")]
    seed = ["set a timer for ten minutes"]
    held = [
        ("h3", "Turn the lights off."),  # a training sentence
        ("h1", "what's the weather in york"),  # a training household
        ("h3", "set a timer for ten minutes"),  # a seed training request
        ("h3", "what's the weather in york"),  # new household, new sentence
        ("h4", "alexa dim the landing lamp"),
    ]
    found = new_wording(held, train, seed)
    assert found.kept == [3, 4]
    assert (found.same_sentence, found.same_household) == (2, 1)


def test_evaluation_scores_only_new_households_and_new_sentences(platform, make_home, make_reviewed):
    home, other = make_home(), make_home()
    make_reviewed(home, "alexa turn the study lights off", "lights_off")
    kept = make_reviewed(other, "alexa will it hail in perth", "weather", split=SplitName.HELDOUT)
    make_reviewed(other, "alexa turn the study lights off", "lights_off", split=SplitName.HELDOUT)
    make_reviewed(home, "alexa play some folk", "music_play", split=SplitName.HELDOUT)
    with transaction(platform.sessions) as s:
        found = heldout_examples(platform, s)
    assert [e.clip.recording_id for e in found.examples] == [kept]
    assert (found.same_sentence, found.same_household) == (1, 1)


def test_the_external_set_is_new_wording():
    requests = external_requests()
    assert len(requests) >= 30 and len(set(requests)) == len(requests)
    from asr_wer import NEW_REQUESTS  # the tuning phrasings of the recogniser benchmarks

    used = {sentence_key(r.text) for split in ("train", "heldout") for r in seed_requests(split)}
    used |= {sentence_key(t) for t in NEW_REQUESTS}
    used |= {sentence_key(r.text) for r in demo_sentences()}
    assert not used & {sentence_key(r) for r in requests}
    seed_words = set().union(*(words(r.text) for r in seed_requests("train")))
    novel = [r for r in requests if words(r) - seed_words]
    assert len(novel) >= len(requests) // 2  # most of them hold a word no seed request uses
    assert all(r == r.lower() and not re.search(r"[0-9]", r) for r in requests)  # spoken form


def test_the_external_set_is_spoken_in_every_voice():
    from overheard.demo import espeak_available

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    clips = spoken_external(HELDOUT_VOICES[:2])
    assert len(clips) == 2 * len(external_requests())
    first, second = clips[0], clips[1]
    assert first.text == second.text and first.voice != second.voice
    assert 0.8 < first.pcm.size / 16000 < 6 and first.pcm.dtype == np.int16
    assert not np.array_equal(first.pcm[:16000], second.pcm[:16000])
