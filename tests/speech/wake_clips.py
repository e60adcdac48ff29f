"""Clips built of real speech around a wake word, and their trip through the production path."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from overheard.db import transaction, utcnow
from overheard.households import Device
from overheard.jobs import claim, run_claimed
from overheard.protect import serving
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording
from overheard.review import queue
from overheard.review.policy import ReviewPolicy
from overheard.speech.audio import read_audio_file, to_wav_bytes

RATE_HZ = 16000
REQUEST = "turn on the lights in the kitchen"
"""The request said after the wake word in the pre-wake and failed-audio clips."""


def private_talk(shared_data: Path, seconds: float, speaker: str = "1688") -> np.ndarray:
    """Real read speech of one LibriSpeech speaker, ``seconds`` long."""
    folder = shared_data / "speakers" / "librispeech-test-other" / speaker
    pcm = np.concatenate([read_audio_file(p).pcm for p in sorted(folder.glob("*.flac"))])
    assert pcm.size >= seconds * RATE_HZ
    return pcm[: round(seconds * RATE_HZ)]


def wake_word(shared_data: Path) -> np.ndarray:
    """A real recording of "alexa"."""
    return read_audio_file(shared_data / "wakeword" / "alexa" / "0.flac").pcm


def silence(seconds: float) -> np.ndarray:
    """``seconds`` of digital silence."""
    return np.zeros(round(seconds * RATE_HZ), dtype=np.int16)


def upload_and_process(platform, device: Device, pcm: np.ndarray) -> Recording:  # type: ignore[no-untyped-def]
    """Ingest ``pcm`` as the device's upload and run every queued job; the recording after."""
    rid = ingest(platform, device, to_wav_bytes(pcm)).recording.id
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)
    with platform.sessions() as s:
        return s.get(Recording, rid)


def stored_audio(platform, rec: Recording) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The recording's stored audio, opened through the content gate."""
    with transaction(platform.sessions) as s:
        raw = platform.gate.open_audio(s, rec, actor="test", purpose="test")
    return np.frombuffer(raw, dtype="<i2")


def served_to_reviewer(platform, staff: str = "R-a1") -> serving.ServedClip:  # type: ignore[no-untyped-def]
    """The clip a reviewer is served for the next task they claim (one must be queued)."""
    policy = ReviewPolicy.from_settings(platform.settings)
    with transaction(platform.sessions) as s:
        lease = queue.claim(s, staff, policy, rng=random.Random(1), now=utcnow())
    assert lease is not None
    return serving.clip_for_lease(platform, lease_id=lease.lease_id, staff=staff, now=utcnow())
