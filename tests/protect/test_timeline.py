"""The reviewer's word timeline: timed words with confidence, PII runs redacted into time spans."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overheard.protect.redact import _redact_once as redact_once
from overheard.protect.redact import redact
from overheard.protect.timeline import StaffWord, staff_words


def hypothesis(text: str, low: int = -1) -> str:
    words = [
        {
            "text": w,
            "start_s": i * 0.5,
            "end_s": i * 0.5 + 0.4,
            "confidence": 0.2 if i == low else 0.9,
        }
        for i, w in enumerate(text.split())
    ]
    return json.dumps({"text": text, "confidence": 0.8, "model": "whisper", "words": words})


def test_a_name_becomes_one_redacted_span_covering_its_words():
    words = staff_words(hypothesis("call john smith now", low=2))
    assert [w.text for w in words] == ["call", "[NAME]", "now"]
    assert words[1] == StaffWord("[NAME]", 0.5, 1.4, 0.2, True)
    assert words[1].low and not words[0].low


@pytest.mark.parametrize("raw", [None, "", "not json", json.dumps({"text": "hi"}), json.dumps([1])])
def test_hypotheses_without_words_give_no_timeline(raw):
    assert staff_words(raw) == ()


def plain_words_shown(text: str) -> list[str]:
    return [w.text for w in staff_words(hypothesis(text)) if not w.redacted]


def is_subsequence(small: list[str], big: list[str]) -> bool:
    rest = iter(big)
    return all(any(word == other for other in rest) for word in small)


# Texts where redaction finds more PII only once a first pass has replaced some (``redact`` repeats
# until nothing more is found): the reviewer's hypothesis showed [NAME] while the timeline showed
# the name itself.
SECOND_PASS = [
    "( of may com apt will hundred call lane Smith",
    "12 card ring , lane jenny com 900123 dot 4b send of",
    "at send 07700 road 4111 sister lane jenny Smith on flat mark 07700 mark",
    "4111 seven hundred 12 john's baker account lane Paul 1aa",
    "to mum Paul apt mum account ring will baker . dot 4111 street",
]


@pytest.mark.parametrize("text", SECOND_PASS)
def test_the_timeline_hides_every_word_the_redacted_hypothesis_hides(text):
    assert redact(text) != redact_once(text, False)  # the case this is about
    assert is_subsequence(plain_words_shown(text), redact(text).split())


WORDS = st.sampled_from(
    "call my sister jenny on oh seven double nine hundred at dot com 4111 1111 07700 900123 born "
    "the fifth of may 12 baker street sw1a 1aa will mark account card Paul Smith , . ( ) lane apt "
    "flat 4b road ring".split()
)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=14).map(" ".join))
def test_no_word_the_hypothesis_redacts_is_shown_on_the_timeline(text: str) -> None:
    assert is_subsequence(plain_words_shown(text), redact(text).split())
