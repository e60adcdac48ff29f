"""The deletion guard: every check refuses on its own, and a clean short command passes."""

from __future__ import annotations

import pytest

from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, judge
from overheard.speech.nlu import Interpretation

GUARD = DeletionGuard()


def heard(text: str, *confidences: float, model: str = "whisper:test") -> Transcript:
    words = text.split()
    confs = confidences or (0.95,) * len(words)
    timed = tuple(
        Word(w, i * 0.3, i * 0.3 + 0.25, c)
        for i, (w, c) in enumerate(zip(words, confs, strict=True))
    )
    return Transcript(text, timed, sum(confs) / len(confs), model)


@pytest.mark.parametrize(
    ("text", "intent", "probability", "confidences", "speech_s", "reason"),
    [
        ("forget what i just said", "delete_last", 0.97, (), 1.4, "obeyed"),
        ("delete everything i said today", "delete_today", 0.95, (), 1.8, "obeyed"),
        ("what time is it", "time_query", 0.99, (), 1.0, "not_a_command"),
        ("delete that", "delete_last", 0.85, (), 0.8, "intent_unsure"),
        ("delete that", "delete_last", 0.97, (0.72, 0.71), 0.8, "asr_unsure"),
        (
            "forget what i just said",
            "delete_last",
            0.97,
            (0.1, 0.99, 0.99, 0.99, 0.99),
            1.4,
            "word_unsure",
        ),
        ("forget what i just said", "delete_last", 0.97, (), 6.0, "too_long"),
        (
            "and then the old man said you should forget what i just said to you about it",
            "delete_last",
            0.97,
            (),
            3.0,
            "too_long",
        ),
        ("so the thing is please forget that", "delete_last", 0.97, (), 2.0, "shape"),
        ("i was not clear about what you just said", "delete_last", 0.97, (), 2.0, "shape"),
        ("could you please forget that", "delete_last", 0.97, (), 1.5, "obeyed"),
        ("delete my morning alarm", "delete_last", 0.99, (), 1.2, "other_object"),
        ("delete last entry", "delete_last", 0.99, (), 1.0, "other_object"),
        ("erase what you just recorded", "delete_last", 0.7, (), 1.5, "obeyed"),
        ("erase what you just recorded", "delete_last", 0.5, (), 1.5, "intent_unsure"),
        ("you can forget that one", "delete_last", 0.88, (), 1.3, "intent_unsure"),
    ],
)
def test_each_check(text, intent, probability, confidences, speech_s, reason):
    guard = DeletionGuard(confirm="never")
    verdict = judge(guard, Interpretation(intent, probability), heard(text, *confidences), speech_s)
    assert verdict.reason == reason
    assert (verdict.command is not None) == (reason == "obeyed")


def test_no_transcript_is_never_obeyed():
    verdict = judge(GUARD, Interpretation("delete_last", 0.99), None, 1.0, "delete that")
    assert verdict.command is None and verdict.reason == "asr_unsure"


def test_request_text_without_wake_word_is_what_is_judged():
    transcript = heard("alexa forget that")
    verdict = judge(GUARD, Interpretation("delete_last", 0.95), transcript, 1.0, "forget that")
    assert verdict.command == "delete_last"


def test_floors_are_per_recogniser_and_settings_override_them():
    ps = heard("forget that", 0.95, 0.4, model="pocketsphinx:domain")
    whisper = heard("forget that", 0.95, 0.4, model="whisper:/m")
    unknown = heard("forget that", 0.95, 0.4, model="other")
    interp = Interpretation("delete_last", 0.97)
    assert judge(GUARD, interp, ps, 1.0).command == "delete_last"  # pocketsphinx floor 0.6
    assert judge(GUARD, interp, whisper, 1.0).reason == "asr_unsure"  # whisper floor 0.75
    assert judge(GUARD, interp, unknown, 1.0).reason == "asr_unsure"  # the strictest
    lenient = DeletionGuard(utterance_floor=0.5, verb_floor=0.5)
    assert judge(lenient, interp, unknown, 1.0).command == "delete_last"


def test_multi_word_deletion_phrase_uses_its_first_word():
    transcript = heard("get rid of that", 0.95, 0.9, 0.9, 0.9)
    verdict = judge(GUARD, Interpretation("delete_last", 0.97), transcript, 1.0)
    assert verdict.command == "delete_last"


@pytest.mark.parametrize(
    ("text", "policy", "confirm"),
    [
        ("delete that", "unnamed", True),
        ("forget that", "unnamed", True),
        ("forget what i just said", "unnamed", False),
        ("delete everything i said today", "unnamed", False),
        ("forget what i just said", "always", True),
        ("delete that", "never", False),
    ],
)
def test_deletions_that_name_nothing_wait_for_a_yes(text, policy, confirm):
    guard = DeletionGuard(confirm=policy)
    verdict = judge(guard, Interpretation("delete_last", 0.99), heard(text), 1.0)
    assert verdict.command == "delete_last" and verdict.confirm is confirm


@pytest.mark.parametrize(
    ("text", "probability", "reason", "confirm"),
    [
        ("you can forget that one", 0.88, "obeyed", True),
        ("erase what you just recorded", 0.55, "obeyed", True),
        ("erase what you just recorded", 0.7, "obeyed", False),
        ("erase what you just recorded", 0.45, "intent_unsure", False),
    ],
)
def test_an_unsure_intent_is_asked_about_rather_than_refused(text, probability, reason, confirm):
    verdict = judge(GUARD, Interpretation("delete_last", probability), heard(text), 1.2)
    assert verdict.reason == reason and verdict.confirm is confirm


@pytest.mark.parametrize(
    ("text", "confidences", "model", "expected"),
    [
        ("yes", (0.95,), "whisper:x", True),
        ("yes please", (0.9, 0.9), "whisper:x", True),
        ("yes", (0.1,), "whisper:x", False),
        ("yes", (0.2,), "whisper:x", True),  # whisper base's lone "yes": 0.19-0.73 when heard right
        ("yes i think so", (0.99, 0.99, 0.99, 0.99), "whisper:x", False),
        ("no", (0.99,), "whisper:x", False),
        ("yesterday", (0.99,), "whisper:x", False),
    ],
)
def test_only_a_plain_sure_yes_confirms(text, confidences, model, expected):
    from overheard.speech.guard import is_confirmation

    transcript = heard(text, *confidences, model=model)
    assert is_confirmation(GUARD, transcript, text) is expected
    assert not is_confirmation(GUARD, None, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("delete every thing i said to day", "delete everything i said today"),
        ("for get what i just said", "forget what i just said"),
        ("Re move my last request.", "remove my last request."),
        ("what time is it today", "what time is it today"),
        ("go to the day care", "go to the day care"),  # only whole pairs are joined
        ("every", "every"),
    ],
)
def test_words_a_recogniser_splits_are_mended(text, expected):
    from overheard.speech.guard import mended

    assert mended(text) == expected


def test_a_split_deletion_verb_is_judged_by_its_weaker_piece():
    interp = Interpretation("delete_last", 0.97)
    sure = heard("for get what i just said", 0.9, 0.8, 0.95, 0.95, 0.95, 0.95)
    unsure = heard("for get what i just said", 0.9, 0.3, 0.95, 0.95, 0.95, 0.95)
    assert judge(GUARD, interp, sure, 1.4).reason == "obeyed"  # the shape check sees "forget"
    assert judge(GUARD, interp, unsure, 1.4).reason == "word_unsure"
    split_object = heard("delete every thing i said to day")
    verdict = judge(GUARD, Interpretation("delete_today", 0.95), split_object, 1.8)
    assert verdict.command == "delete_today" and not verdict.confirm


@pytest.mark.parametrize(
    ("text", "confidences", "expected"),
    [
        ("yes", (0.95,), "yes"),
        ("yes", (0.14,), "unclear"),  # Whisper base hears a tuning voice's lone "yes" at 0.14
        ("you", (0.05,), "unclear"),  # and another voice's as "you"
        ("yes please", (0.7, 0.9), "yes"),
        ("no", (0.2,), "no"),  # a no, however unsure: dropped, never asked about again
        ("No.", (0.9,), "no"),
        ("cancel", (0.6,), "no"),
        ("no thanks", (0.05, 0.05), "no"),
        ("no delete it", (0.9, 0.9, 0.9), "other"),  # only a whole refusal is a no
        ("what time is it", (0.3, 0.3, 0.3, 0.3), "other"),  # a new request, not an answer
        ("play jazz", (0.9, 0.9), "other"),  # two sure words that are no yes
    ],
)
def test_an_unclear_answer_is_asked_about_once_more(text, confidences, expected):
    from overheard.speech.guard import answer_of

    transcript = heard(text, *confidences)
    assert answer_of(GUARD, transcript, text) == expected
    assert answer_of(GUARD, None, text) == "other"
    assert answer_of(DeletionGuard(reask=False), transcript, text) == (
        expected if expected in ("yes", "no") else "other"
    )
