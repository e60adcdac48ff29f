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


def _rows(ordinary: int, deletions: int) -> list:
    seen = {
        "transcript": {
            "text": "delete that",
            "confidence": 0.81,
            "words": [
                {"text": "delete", "start_s": 0.0, "end_s": 0.4, "confidence": 0.9},
                {"text": "that", "start_s": 0.4, "end_s": 0.7, "confidence": 0.72},
            ],
            "model": "whisper:base",
        },
        "speech_s": 0.7,
    }
    rows = [(("ordinary", "hwu64", f"text {i}"), None, seen) for i in range(ordinary)]
    rows += [
        (("deletion-new", "en-us+f4", f"del {i}"), "delete_last", seen) for i in range(deletions)
    ]
    return rows


def test_the_goals_need_two_thousand_clean_ordinary_clips_and_95_percent_obeyed(capsys):
    rows = _rows(2000, 20)
    deletions = range(2000, 2020)
    vd.goals(
        rows,
        {
            "obeys all": lambda i: "delete_last" if i in deletions else None,
            "one false": lambda i: "delete_last" if i in deletions or i == 7 else None,
            "obeys 18": lambda i: "delete_last" if i in deletions[:18] else None,
            "obeys 19": lambda i: "delete_last" if i in deletions[:19] else None,
        },
    )
    lines = {line.split(" | ")[0][2:]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["obeys all"].endswith("| 2,000 | 0 | 20/20 (100.0%) | met |")
    assert lines["one false"].endswith("| 1 | 20/20 (100.0%) | not met |")
    assert lines["obeys 18"].endswith("| 0 | 18/20 (90.0%) | not met |")
    assert lines["obeys 19"].endswith("| 0 | 19/20 (95.0%) | met |")
    vd.goals(_rows(1999, 20), {"too few": lambda i: "delete_last" if i >= 1999 else None})
    assert capsys.readouterr().out.rstrip().endswith("| not met |")


def test_the_dump_keeps_word_confidences_and_each_rules_decision(tmp_path):
    import json

    rows = _rows(2, 1)
    path = tmp_path / "out" / "heard.jsonl"
    rules = {"baseline": lambda i: "delete_last", "guard": lambda i: None}
    vd.dump(path, rows, rules)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert lines[0]["heard"] == "delete that" and lines[0]["confidence"] == 0.81
    assert lines[0]["words"] == [["delete", 0.9], ["that", 0.72]]
    assert lines[2]["set"] == "deletion-new" and lines[2]["expected"] == "delete_last"
    assert lines[2]["decided"] == {"baseline": "delete_last", "guard": None}


def test_the_benchmark_judges_the_pipelines_own_rule():
    from overheard.config import Settings
    from overheard.speech.pipeline import stack_from_settings

    assert vd.MISSED_UNDER["default"] == stack_from_settings(Settings()).guard


def test_a_miss_names_the_other_deletion_carried_out_instead():
    # "delete my requests from today please", heard "... from to there please": the second listen
    # found "delete that", which is not what was asked
    wrong = vd.Verdict("delete_last", "obeyed", confirm=True)
    assert vd.miss_reason(wrong, "delete_today") == "wrong_command (delete_last)"
    assert vd.miss_reason(vd.Verdict("delete_today", "obeyed", True), "delete_today") == (
        "no_yes_heard"
    )
    assert vd.miss_reason(vd.Verdict(None, "not_a_command"), "delete_today") == "not_a_command"
    assert vd.miss_reason(None, "delete_today") == "not_decoded"
