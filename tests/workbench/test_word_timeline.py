"""Word timings end to end: the real pipeline stores timed words, the reviewer's page shows them
under the waveform with the unsure ones marked and PII redacted."""

from __future__ import annotations

import json
import re

import pytest

from overheard.config import Settings
from overheard.db import transaction
from overheard.households import Device
from overheard.jobs import claim, run_claimed
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording
from overheard.review.consent import set_human_review
from overheard.speech import pipeline
from overheard.speech.audio import to_wav_bytes
from tests.workbench.conftest import CAPTURED

REQUEST = "Alexa, send a message to john smith about the garden"


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite, every transcribed clip sampled for review."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'overheard.db'}",
        workers=1,
        review_sample_rate=1.0,
    ).resolved()


def test_pipeline_words_reach_the_reviewers_page(platform, make_household, staff_client):
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    pipeline.register()
    hh = make_household()
    with transaction(platform.sessions) as s:
        set_human_review(s, hh.household_id, True, actor="customer", now=CAPTURED)
        device = s.get(Device, hh.device_id)
    rid = ingest(platform, device, to_wav_bytes(synthesise(REQUEST, "en-gb"))).recording.id
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)
    with transaction(platform.sessions) as s:
        rec = s.get_one(Recording, rid)
        stored = json.loads(platform.gate.open_text(s, rec, "hypothesis", actor="test", purpose="test"))
        kept_s = rec.duration_s
    words = stored["words"]
    assert " ".join(w["text"] for w in words) == stored["text"] and "garden" in stored["text"]
    # times count from the start of the kept audio (the clip the reviewer hears)
    assert words[0]["start_s"] >= 0 and words[-1]["end_s"] <= kept_s + 0.05
    web, _ = staff_client("annotator")
    html = web.get("/review").text
    shown = re.findall(r'<li data-start-s="([\d.]+)" data-end-s="([\d.]+)"[^>]*>([^<]+)</li>', html)
    assert [t for _, _, t in shown][-1] == "garden"
    assert float(shown[0][0]) == pytest.approx(words[0]["start_s"])
    assert "john" not in [t for _, _, t in shown] and "[NAME]" in [t for _, _, t in shown]
    unsure = [w for w in words if w["confidence"] < 0.5]
    assert ('class="low' in html) == bool(unsure) and html.count('class="low') <= len(unsure)
