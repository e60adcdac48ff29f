"""The reviewer's word timeline: timed words with confidence, PII runs redacted into time spans."""

from __future__ import annotations

import json

import pytest

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
