"""Redaction's look-up caches keep the words of the texts staff were shown (the street names and
other words it hides among them): they are emptied after an age, even in an idle process, and
when a served clip is deleted."""

from __future__ import annotations

import time

import pytest

from overheard.protect import redact, serving
from overheard.protect._places import _joined_suffix_street
from overheard.protect._street_words import fold
from overheard.recordings.deletion import delete_recordings
from overheard.review import hooks as review_hooks
from tests.privacy._world import add_clip, claim, later, sample_after_transcription_only

SAID = "meet me at hauptstrasse 5 tomorrow"
CACHES = (fold, _joined_suffix_street)
"""The rules' caches keyed by the words they read."""


def _held() -> int:
    return sum(cache.cache_info().currsize for cache in CACHES)


def _clear() -> None:
    for cache in CACHES:
        cache.cache_clear()


def test_the_words_looked_up_are_forgotten_after_their_age(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redact, "WORD_CACHES", redact.WordCaches(max_age_s=0.2))
    _clear()
    assert redact.redact(SAID) == "meet me at [ADDRESS] tomorrow"
    assert _held() > 0  # "hauptstrasse" among them
    deadline = time.monotonic() + 5.0
    while _held() and time.monotonic() < deadline:
        time.sleep(0.05)  # nothing else is redacted meanwhile: the process is idle
    assert _held() == 0


@pytest.mark.parametrize("how", ["deleted", "review_off"])
def test_a_served_text_leaves_no_words_behind_once_its_clip_leaves(platform, make_household, how):  # type: ignore[no-untyped-def]
    serving.install(platform)
    review_hooks.register()
    clip = add_clip(platform, make_household, hypothesis=SAID)
    sample_after_transcription_only(platform, clip)
    lease = claim(platform, "R-a1")
    _clear()
    text = serving.text_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    assert "hauptstrasse" not in text.hypothesis and _held() > 0

    if how == "deleted":
        delete_recordings(
            platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
        )
    else:
        from overheard.db import transaction
        from overheard.review.consent import set_human_review

        with transaction(platform.sessions) as s:
            set_human_review(s, clip.household_id, False, actor="customer", now=later(2))

    assert _held() == 0
