"""Hear less: only the span around the unsure words is served, and the lead sees seconds heard."""

from __future__ import annotations

import json

import pytest

from overheard.db import transaction
from overheard.protect import focus, serving
from overheard.recordings.models import Recording
from tests.privacy._world import add_clip, claim, later, sample

WORDS = [
    {"text": "turn", "start_s": 0.2, "end_s": 0.5, "confidence": 0.95},
    {"text": "on", "start_s": 0.5, "end_s": 0.7, "confidence": 0.9},
    {"text": "the", "start_s": 0.7, "end_s": 0.8, "confidence": 0.92},
    {"text": "lamp", "start_s": 1.6, "end_s": 2.0, "confidence": 0.3},
    {"text": "please", "start_s": 3.2, "end_s": 3.6, "confidence": 0.97},
]


def timed(rows: list[dict[str, object]]) -> list[focus.TimedWord]:
    return focus.hypothesis_words(json.dumps({"words": rows}))


@pytest.mark.parametrize(
    ("rows", "context_s", "expected"),
    [
        (WORDS, 0.5, (1.1, 2.5)),  # the one unsure word, half a second each side
        (WORDS, 0.0, (0.0, 4.0)),  # off: the whole clip
        ([dict(WORDS[0], confidence=0.99), dict(WORDS[1], confidence=0.98)], 0.25, (0.25, 0.95)),
        ([], 0.5, (0.0, 4.0)),  # no word times: the whole clip
        ([dict(WORDS[0], start_s=9.0, end_s=9.5)], 0.5, (0.0, 4.0)),  # times outside the clip
    ],
)
def test_focus_span(rows, context_s: float, expected: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    span = focus.focus_span(timed(rows), 4.0, below=0.6, context_s=context_s)
    assert span == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw", [None, "", "not json", '{"text": "hi"}', '{"words": [{"x": 1}]}', "[1]"]
)
def test_hypotheses_without_word_times_give_no_words(raw: str | None) -> None:
    assert focus.hypothesis_words(raw) == []


def test_only_the_unsure_span_is_served_and_counted(platform, make_household) -> None:  # type: ignore[no-untyped-def]
    serving.install(platform)
    platform.settings = platform.settings.model_copy(update={"serve_focus_context_s": 0.5})
    clip = add_clip(platform, make_household, seconds=4.0)
    with transaction(platform.sessions) as s:
        rec = s.get(Recording, clip.recording_id)
        platform.gate.seal_text(s, rec, "hypothesis", json.dumps({"text": "x", "words": WORDS}))
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    served = serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    assert served.duration_s == pytest.approx(1.4, abs=0.01)
    with platform.sessions() as s:
        heard = focus.heard(s)
    assert heard.clips == 1 and heard.per_clip_s == pytest.approx(1.4, abs=0.01)
