"""Where a household's words could go besides sealed texts: none of them holds any.

Real speech (espeak-ng, "Alexa, …") goes through the real pipeline (wake word, trim, VAD, intent
model, deletion guard, sampler); only the recogniser is scripted, so that what it "hears" is a
phrase no model or list holds. The clip is served to a reviewer and annotated with a comment that
quotes it, and a privacy officer's re-identification reason quotes it; a spoken "delete that" is asked about, answered without the wake word in words of the
household and then with a no; "delete everything I said today" is carried out; then "delete
everything". Every log record (any logger, DEBUG up), everything written to the process's file
descriptors, every job id handed to the job backend (what a broker receives), the metrics page,
every row of every table (audit events, jobs, receipts, tombstones, purges…) and every file under
the test's folder is searched for the words, before the deletion and after it.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from overheard import metrics
from overheard.customer import service
from overheard.db import Base, transaction, utcnow
from overheard.hazmat import reidentify
from overheard.households import Device
from overheard.jobs import claim, run_claimed
from overheard.protect import serving
from overheard.recordings import voice_prompt
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording
from overheard.review import queue
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.policy import ReviewPolicy
from overheard.speech import pipeline
from overheard.speech.asr import Transcript, Word
from overheard.speech.audio import to_wav_bytes
from overheard.workbench import flow
from tests.privacy._world import make_officer

pytestmark = pytest.mark.slow

HEARD = "add zebra okonkwo marmalade to my shopping list"
"""What the recogniser hears in the first request (the intent model's item slot: the three words)."""
WORDS = ("zebra", "okonkwo", "marmalade", "everything i said", "delete that")


@dataclass
class ScriptedRecogniser:
    """Hears ``said`` in whatever it is given, every word sure."""

    name: str = "whisper"
    said: str = ""

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        words = self.said.split()
        step = max(pcm.size / 16000 / max(len(words), 1), 0.05)
        timed = tuple(Word(w, i * step, (i + 1) * step, 0.97) for i, w in enumerate(words))
        return Transcript(self.said, timed, 0.97, "whisper")


@pytest.fixture(scope="module")
def speak():  # type: ignore[no-untyped-def]
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise


def run_jobs(platform, at=None) -> None:  # type: ignore[no-untyped-def]
    while (job := claim(platform.sessions, now=at)) is not None:
        run_claimed(platform, job, now=(lambda: at) if at else utcnow)


def rows_holding(platform) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    with platform.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(text(f"SELECT * FROM {table.name}")).all():
                flat = " ".join(map(str, row)).lower()
                found += [f"{table.name}: {w!r}" for w in WORDS if w in flat]
    return found


def files_holding(root: Path) -> list[str]:
    found = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes().lower()
        found += [
            f"{path.name}: {w!r}"
            for w in WORDS
            if w.encode() in raw or w.encode("utf-16-le") in raw
        ]
    return found


def holding(where: str) -> list[str]:
    return [w for w in WORDS if w in where.lower()]


def test_no_log_row_broker_message_metric_or_file_holds_what_a_household_said(
    platform, make_household, speak, caplog, capfd, tmp_path
):  # type: ignore[no-untyped-def]
    pipeline.register()
    platform.settings = platform.settings.model_copy(update={
        "review_sample_rate": 1.0, "review_double_share": 0.0, "review_gold_share": 0.0,
        "disguise_method": "world", "voice_delete_confirm_s": 600.0,
    })  # fmt: skip
    serving.install(platform)
    sent: list[str] = []
    notify = platform.jobs.notify
    platform.jobs.notify = lambda job_id, **kw: (sent.append(job_id), notify(job_id, **kw))[1]
    recogniser = ScriptedRecogniser()
    pipeline.stack_for(platform).__dict__["asr"] = recogniser
    hh = make_household()
    with transaction(platform.sessions) as s:
        set_human_review(
            s, hh.household_id, True, actor="customer", now=utcnow() - timedelta(days=1)
        )
    with platform.sessions() as s:
        device = s.get(Device, hh.device_id)
        s.expunge(device)
    caplog.set_level(logging.DEBUG)
    now = utcnow()

    def said(heard: str, spoken: str, seconds_ago: float) -> str:
        recogniser.said = heard
        at = now - timedelta(seconds=seconds_ago)
        rid = ingest(platform, device, to_wav_bytes(speak(spoken, "en-gb")), captured_at=at)
        run_jobs(platform)
        return rid.recording.id

    said(HEARD, "Alexa, add eggs to my shopping list", 300)
    policy = ReviewPolicy.from_settings(platform.settings)
    with transaction(platform.sessions) as s:
        lease = queue.claim(s, "R-a1", policy, rng=random.Random(1), now=now)
    assert lease is not None
    run_jobs(platform)  # the rendition
    serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=now)
    shown = serving.text_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=now)
    assert "okonkwo" in shown.hypothesis
    answer = AnnotationInput(HEARD, "shopping_add", comment="she says zebra okonkwo marmalade")
    flow.submit(platform, "R-a1", lease.lease_id, answer, now + timedelta(seconds=30))
    with transaction(platform.sessions) as s:  # a privacy officer's reason quotes it too
        reidentify.request(
            s, platform.gate, make_officer(platform), task_pseudonym=lease.task.pseudonym,
            reason="the speaker says zebra okonkwo marmalade: a check is needed",
            policy=reidentify.ReidentifyPolicy(), now=now + timedelta(seconds=40),
        )  # fmt: skip

    asked = said("delete that", "Alexa, delete that", 200)
    with platform.sessions() as s:
        command = s.get(Recording, asked)
        s.expunge(command)
    assert voice_prompt.tell(platform, device.id, command, utcnow()) is not None
    said("zebra okonkwo marmalade", "zebra marmalade", 195)  # no wake word: the answer window
    said("no", "Alexa, no", 190)
    said("delete everything i said today", "Alexa, delete everything I said today", 100)

    assert rows_holding(platform) == []
    run_jobs(platform, utcnow() + timedelta(seconds=platform.settings.voice_delete_undo_s + 1))
    with platform.sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM recordings")) == 0  # all of today, deleted
        actions = set(s.scalars(text("SELECT action FROM audit_events")))
    assert {"voice_delete.answer_window", "voice_delete.declined", "voice_delete.scheduled",
            "review.submit", "text.view"} <= actions  # fmt: skip
    service.delete_all(platform, hh.household_id, "customer:test", utcnow())
    run_jobs(platform)

    assert rows_holding(platform) == []
    assert files_holding(tmp_path) == []
    assert holding(caplog.text) == []
    out, err = capfd.readouterr()
    assert holding(out + err) == []
    assert sent and all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in sent)
    assert holding(metrics.exposition(platform.sessions, "").decode()) == []
