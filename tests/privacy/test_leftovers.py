"""Leftovers: after the whole review loop and "delete everything", no plaintext of the household is on disk.

One real clip (a recorded "alexa" and a spoken request) goes through the real upload route, the
pipeline (wake word, trim, recogniser, intent), sampling, the rendition job (disguise), two serves
with their texts, and an annotation. Every temporary file the process makes goes to a folder the
test owns. After "delete everything", no file under the data dir or that temporary folder (the
SQLite database with its WAL and shared memory, free pages included; blobs; anything else) holds
the transcript, the annotation, or any stretch of the received, stored, disguised or served audio;
and a backup of every database row taken afterwards (SQLite and PostgreSQL) holds none of the text.
"""

from __future__ import annotations

import json
import random
import tempfile
import wave
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from overheard.backup import write_backup
from overheard.customer import service
from overheard.db import transaction, utcnow
from overheard.jobs import claim, run_claimed
from overheard.protect import serving
from overheard.protect._cache import open_cached
from overheard.recordings.models import Recording, Status
from overheard.review import queue
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.policy import ReviewPolicy
from overheard.speech import pipeline
from overheard.speech.audio import read_audio_file, to_wav_bytes
from overheard.workbench import flow
from tests.recordings.test_ingest_api import auth

pytestmark = [pytest.mark.slow, pytest.mark.data]

REQUEST = "turn on the lights in the kitchen"
ANNOTATION = "turn on the lights in the kitchen for quillon marchbanks"
COMMENT = "speaker mentions zephyrine ostrowska"


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every ``tempfile`` file of this process lands where the scan looks."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def reviewing(platform):  # type: ignore[no-untyped-def]
    pipeline.register()
    platform.settings = platform.settings.model_copy(
        update={"review_sample_rate": 1.0, "review_double_share": 0.0, "review_gold_share": 0.0}
    )
    serving.install(platform)
    return platform


@pytest.fixture(scope="module")
def request_speech() -> np.ndarray:
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise(REQUEST, "en-gb")


def run_jobs(platform) -> None:  # type: ignore[no-untyped-def]
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)


def wav_pcm(wav: bytes) -> np.ndarray:
    with wave.open(BytesIO(wav)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def pcm_windows(pcm: np.ndarray, count: int = 16, size: int = 48) -> list[bytes]:
    """``count`` stretches of ``size`` bytes where every sample is loud: bytes no silence shares."""
    samples = size // 2
    loud = np.abs(pcm.astype(np.int32)) > 1000
    runs = np.convolve(loud, np.ones(samples, dtype=int), mode="valid") == samples
    starts = np.flatnonzero(runs)
    assert starts.size >= count, "too little loud audio to look for"
    picked = starts[np.linspace(0, starts.size - 1, count).astype(int)]
    raw = pcm.astype("<i2").tobytes()
    return [raw[2 * s : 2 * s + size] for s in picked]


def is_sqlite(platform) -> bool:  # type: ignore[no-untyped-def]
    return platform.settings.database_url.startswith("sqlite")


def leaks(files: list[Path], texts: list[str], audio: dict[str, list[bytes]]) -> list[str]:
    """Each file holding one of ``texts`` (UTF-8 or UTF-16, any case) or a stretch of ``audio``."""
    out = []
    for path in files:
        raw = path.read_bytes()
        low = raw.lower()
        out += [f"{path.name}: {t!r}" for t in texts
                if t.lower().encode() in low or t.lower().encode("utf-16-le") in low]
        out += [f"{path.name}: {what} audio" for what, ws in audio.items() if any(w in raw for w in ws)]
    return out


def test_nothing_of_a_reviewed_household_is_left_on_disk_after_delete_everything(
    reviewing, client, make_household, shared_data, request_speech, tmp_path, _private_tmp
):  # type: ignore[no-untyped-def]
    platform = reviewing
    hh = make_household()
    with transaction(platform.sessions) as s:
        set_human_review(s, hh.household_id, True, actor="customer", now=utcnow())
    alexa = read_audio_file(shared_data / "wakeword" / "alexa" / "0.flac").pcm
    clip = np.concatenate([alexa, request_speech])
    body = to_wav_bytes(clip)
    resp = client.post("/api/v1/utterances", content=body, headers=auth(hh.device_token))
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    run_jobs(platform)

    with transaction(platform.sessions) as s:
        rec = s.get(Recording, rid)
        assert rec.status == Status.TRANSCRIBED
        transcript = json.loads(platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))
        kept = np.frombuffer(platform.gate.open_audio(s, rec, actor="t", purpose="t"), "<i2").copy()
    text = transcript["text"]
    assert "light" in text, text

    now = utcnow()
    policy = ReviewPolicy.from_settings(platform.settings)
    with transaction(platform.sessions) as s:
        lease = queue.claim(s, "R-a1", policy, rng=random.Random(1), now=now)
    assert lease is not None
    run_jobs(platform)  # the rendition, queued when the clip was sampled
    served = [serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=now)
              for _ in range(2)]
    seen = serving.text_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=now)
    assert "light" in seen.hypothesis
    with transaction(platform.sessions) as s:
        rec = s.get(Recording, rid)
        rendition = open_cached(s, platform.gate, rec, actor="t", purpose="t")
    assert rendition is not None
    disguised = np.frombuffer(rendition.pcm, "<i2")
    later = now + timedelta(seconds=60)
    flow.submit(platform, "R-a1", lease.lease_id, AnnotationInput(ANNOTATION, None, comment=COMMENT), later)
    run_jobs(platform)

    secrets_text = [text, ANNOTATION, COMMENT, "quillon", "zephyrine", "marchbanks", "ostrowska"]
    audio = {
        "received": pcm_windows(clip),
        "kept": pcm_windows(kept),
        "disguised": pcm_windows(disguised),
        **{f"served{i}": pcm_windows(wav_pcm(c.wav)) for i, c in enumerate(served)},
    }

    service.delete_all(platform, hh.household_id, "customer:test", utcnow())
    run_jobs(platform)
    # Open (the WAL and shared memory beside the database) and closed (checkpointed into it).
    open_files = files_under(tmp_path)
    assert any(p.name.endswith(".db-wal") for p in open_files) or not is_sqlite(platform)
    assert leaks(open_files, secrets_text, audio) == []
    platform.close()
    assert leaks(files_under(tmp_path), secrets_text, audio) == []

    # Every row left in the database (either backend), dumped: none of the text.
    from overheard.platform import Platform

    again = Platform.open(platform.settings)
    try:
        write_backup(again, tmp_path / "backup")
        with again.sessions() as s:
            left = s.scalars(select(Recording.id).where(Recording.household_id == hh.household_id))
            assert left.all() == []
    finally:
        again.close()
    dumped = b"".join(p.read_bytes() for p in (tmp_path / "backup" / "tables").glob("*.jsonl")).lower()
    assert [t for t in secrets_text if t.lower().encode() in dumped] == []
