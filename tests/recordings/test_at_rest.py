"""At rest: after a clip is ingested and transcribed, neither its PCM nor its transcript, nor the
household's identity, appears in plaintext anywhere in the database files (WAL included) or blobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from overheard.demo import espeak_available, synthesise
from overheard.households import Device
from overheard.jobs import claim, run_claimed
from overheard.recordings.models import Recording
from overheard.speech import pipeline
from overheard.speech.audio import to_wav_bytes
from tests.recordings.test_ingest_api import auth

pytestmark = pytest.mark.slow

NAME, ACCOUNT, EMAIL = "Philippa", "ACC-77310042", "philippa.q@example.org"


def stored_bytes(platform) -> bytes:
    data = platform.settings.data_dir
    files = [*data.glob("overheard.db*"), *Path(data / "blobs").rglob("*")]
    return b"".join(f.read_bytes() for f in files if f.is_file())


def pcm_windows(pcm: np.ndarray, count: int = 12, size: int = 48) -> list[bytes]:
    raw = pcm.tobytes()
    loud = np.flatnonzero(np.abs(pcm) > 2000)
    starts = np.linspace(loud[0] * 2, loud[-1] * 2 - size, count).astype(int)
    return [raw[s - s % 2 : s - s % 2 + size] for s in starts]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_nothing_readable_at_rest(client, platform, make_household):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    pipeline.register()
    hh = make_household(name=NAME, account=ACCOUNT, email=EMAIL)
    pcm = synthesise("Alexa, what is the weather in London tomorrow", "en-gb")
    resp = client.post("/api/v1/utterances", content=to_wav_bytes(pcm), headers=auth(hh.device_token))
    assert resp.status_code == 201
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)
    with platform.sessions() as s:
        rec = s.get(Recording, resp.json()["id"])
        assert rec.status == "transcribed"
        hypothesis = json.loads(platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))
        stored_pcm = np.frombuffer(platform.gate.open_audio(s, rec, actor="t", purpose="t"), np.int16)
        assert s.get(Device, hh.device_id) is not None
    text = hypothesis["text"]
    assert len(text.split()) >= 3, "needs a real transcript to look for"
    blob = stored_bytes(platform)
    assert text.encode() not in blob
    for word in {"weather", "london", "tomorrow"} & set(text.split()):
        assert word.encode() not in blob.lower(), word
    for needle in (NAME, ACCOUNT, EMAIL):
        assert needle.encode() not in blob
    for window in pcm_windows(stored_pcm):
        assert window not in blob
    assert pcm_windows(stored_pcm)[0] in stored_pcm.tobytes()  # the probe itself works
