"""A clip in keyword mode with no speech is an accidental wake, as in openWakeWord mode."""

from __future__ import annotations

import numpy as np
import pytest

from overheard import jobs
from overheard.db import utcnow
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording, Status
from overheard.speech import pipeline
from overheard.speech.audio import to_wav_bytes

from .wake_clips import RATE_HZ, silence


@pytest.fixture(autouse=True)
def _registered():  # type: ignore[no-untyped-def]
    pipeline.register()


def _run_jobs(platform, now) -> None:  # type: ignore[no-untyped-def]
    while (job := jobs.claim(platform.sessions, now=now)) is not None:
        jobs.run_claimed(platform, job, now=lambda: now)


@pytest.mark.slow
@pytest.mark.parametrize("verifier", ["openwakeword", "keyword"])
@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_a_clip_without_speech_is_accidental_in_both_modes(platform, device, verifier, kind):  # type: ignore[no-untyped-def]
    """Before, keyword mode called a clip in which the VAD heard no speech ``no_speech`` and kept
    all of it; openWakeWord mode calls it ``accidental`` (no wake word) and purges it."""
    platform.settings = platform.settings.model_copy(update={"wake_verifier": verifier})
    pcm = {
        "silence": silence(3.0),
        "noise": np.random.default_rng(5).normal(0, 300, 3 * RATE_HZ).astype(np.int16),
    }[kind]
    rid = ingest(platform, device, to_wav_bytes(pcm)).recording.id
    with platform.sessions() as s:
        blob = s.get(Recording, rid).audio_blob
    _run_jobs(platform, utcnow())
    with platform.sessions() as s:
        rec = s.get(Recording, rid)
    assert rec.status == Status.ACCIDENTAL
    assert rec.audio_blob is None and not platform.blobs.exists(blob)
