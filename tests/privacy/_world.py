"""A tiny world for serving tests: consenting households with sealed audio, leases, staff principals."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from overheard import jobs
from overheard.accounts import service as accounts
from overheard.accounts.models import Role
from overheard.accounts.rbac import StaffPrincipal
from overheard.db import transaction
from overheard.jobs import JobState
from overheard.protect import rendition
from overheard.recordings.models import Recording, Status
from overheard.review import annotations, queue
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.policy import ReviewPolicy
from overheard.review.sampler import DISGUISE_JOB, sample_after_transcription

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RATE_HZ = 16000
POLICY = ReviewPolicy(sample_rate=1.0, household_cap=1000, double_share=0.0, gold_share=0.0)
DOUBLE = ReviewPolicy(sample_rate=1.0, household_cap=1000, double_share=1.0, gold_share=0.0)


def later(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def synthetic_speech(seconds: float, seed: int = 0, pitch_hz: float = 140.0) -> np.ndarray:
    """Voiced-like buzz (harmonics of a wobbling pitch) under a syllable-rate envelope, int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    pitch = pitch_hz + 0.2 * pitch_hz * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE_HZ
    buzz = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 0.5
    x = buzz * envelope * 4000 + rng.standard_normal(len(t)) * 30
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Clip:
    """A stored recording and the PCM it holds."""

    recording_id: str
    household_id: str
    pcm: np.ndarray


def add_clip(
    platform,
    make_household,
    *,
    seconds: float = 1.0,
    hypothesis: str = "turn on the lights",
    consent: bool = True,
    seed: int = 0,
    pcm: np.ndarray | None = None,
) -> Clip:  # type: ignore[no-untyped-def]
    """A consenting household with one transcribed recording: sealed audio (``pcm``, or a
    synthetic buzz of ``seconds``) and hypothesis."""
    hh = make_household()
    pcm = synthetic_speech(seconds, seed) if pcm is None else pcm
    with transaction(platform.sessions) as s:
        if consent:
            set_human_review(s, hh.household_id, True, actor="customer", now=T0)
        rec = Recording(
            id=uuid.uuid4().hex,
            household_id=hh.household_id,
            device_id=hh.device_id,
            captured_at=T0,
            received_at=T0,
            duration_s=len(pcm) / RATE_HZ,
            source_rate_hz=RATE_HZ,
            source_format="WAV/PCM_16",
            status=Status.TRANSCRIBED.value,
            asr_confidence=0.9,
            processed_at=T0,
        )
        s.add(rec)
        s.flush()
        rec.audio_blob = platform.gate.seal_audio(s, rec, pcm.astype("<i2").tobytes())
        platform.gate.seal_text(s, rec, "hypothesis", json.dumps({"text": hypothesis}))
    return Clip(rec.id, hh.household_id, pcm)


def sample(
    platform, clip: Clip, policy: ReviewPolicy = POLICY, rng: np.random.Generator | None = None
) -> str:  # type: ignore[no-untyped-def]
    """Queue the clip for review and run its rendition job, as the pipeline does; the task id."""
    task_id = sample_after_transcription_only(platform, clip, policy)
    prepare(platform, clip.recording_id, rng)
    return task_id


def sample_after_transcription_only(platform, clip: Clip, policy: ReviewPolicy = POLICY) -> str:  # type: ignore[no-untyped-def]
    """Queue the clip for review without running its rendition job; the task id."""
    with transaction(platform.sessions) as s:
        rec = s.get(Recording, clip.recording_id)
        task = sample_after_transcription(s, rec, policy, random.Random(1), T0)
        assert task is not None
        return task.id


def prepare(platform, recording_id: str, rng: np.random.Generator | None = None) -> None:  # type: ignore[no-untyped-def]
    """Run the queued rendition job of a sampled clip (drawing from ``rng`` when given)."""
    rendition.register()
    if rng is not None:
        rendition.render(platform, recording_id, rng)
    assert jobs.run_now(platform, DISGUISE_JOB, recording_id) is JobState.DONE


def stored_rendition(platform, recording_id: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The clip's stored disguised rendition, as serving opens it (int16 PCM)."""
    from overheard.protect import _cache

    with transaction(platform.sessions) as s:
        rec = s.get(Recording, recording_id)
        found = _cache.open_cached(s, platform.gate, rec, actor="test", purpose="test")
    assert found is not None
    return np.frombuffer(found.pcm, dtype="<i2")


def claim(platform, staff: str, now: datetime = T0, policy: ReviewPolicy = POLICY) -> queue.Lease:  # type: ignore[no-untyped-def]
    """``staff`` claims the next task."""
    with transaction(platform.sessions) as s:
        lease = queue.claim(s, staff, policy, rng=random.Random(2), now=now)
    assert lease is not None
    return lease


def submit(
    platform,
    lease: queue.Lease,
    staff: str,
    text: str,
    *flags: str,
    now: datetime = T0,
    policy: ReviewPolicy = POLICY,
) -> str:  # type: ignore[no-untyped-def]
    """Submit an annotation on ``lease``; returns the annotation id."""
    answer = AnnotationInput(transcript=text, intent="lights_on", flags=frozenset(flags))  # type: ignore[arg-type]
    with transaction(platform.sessions) as s:
        row = annotations.submit(s, platform.gate, lease.lease_id, staff, answer, policy, now=now)
        return row.id


def make_officer(platform, role: str = Role.PRIVACY_OFFICER.value) -> StaffPrincipal:  # type: ignore[no-untyped-def]
    """A staff account of ``role`` as its principal (no sign-in needed for service tests)."""
    with transaction(platform.sessions) as db:
        staff, _token = accounts.create_staff(db, name="Officer", role=role, now=T0)
    return StaffPrincipal(staff.id, staff.pseudonym, Role(role))
