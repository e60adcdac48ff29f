"""A recording whose pipeline job failed for good was never trimmed: its audio, as received, keeps
the talk before the wake word and after the request. It is kept only ``failed_audio_keep_s``, for
an operator's retry, then purged; and a clip in keyword mode with no speech is an accidental wake."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from overheard import jobs, purges
from overheard.audit import AuditEvent
from overheard.customer.access import what_happened
from overheard.customer.retention import purge_failed_audio, sweep_retention
from overheard.db import transaction, utcnow
from overheard.recordings.ingest import PROCESS_JOB, ingest
from overheard.recordings.models import Recording, Status
from overheard.recordings.purging import FAILED_PURGE
from overheard.review.models import ReviewTask
from overheard.speech import pipeline
from overheard.speech.audio import to_wav_bytes

from .wake_clips import RATE_HZ, private_talk, silence, stored_audio, wake_word

PRIVATE_S = 6.0
"""Seconds of private talk before the wake word."""


@pytest.fixture(autouse=True)
def _registered():  # type: ignore[no-untyped-def]
    pipeline.register()


def _run_jobs(platform, now) -> None:  # type: ignore[no-untyped-def]
    while (job := jobs.claim(platform.sessions, now=now)) is not None:
        jobs.run_claimed(platform, job, now=lambda: now)


def _fails_for_good(platform, device, clip: np.ndarray) -> tuple[str, str, bytes]:  # type: ignore[no-untyped-def]
    """Upload ``clip`` while the blob store has lost it (an outage), and run its job until it
    gives up; the store then has it back. The recording id, its blob key and the sealed blob."""
    rid = ingest(platform, device, to_wav_bytes(clip)).recording.id
    with platform.sessions() as s:
        blob = s.get(Recording, rid).audio_blob
    sealed = platform.blobs.get(blob)
    platform.blobs.delete(blob)
    later = utcnow()
    for _ in range(platform.settings.job_max_attempts):
        later += timedelta(hours=1)  # past every backoff
        _run_jobs(platform, later)
    platform.blobs.put(blob, sealed)  # the operator fixed the store
    with platform.sessions() as s:
        rec = s.get(Recording, rid)
        assert rec.status == Status.FAILED and rec.audio_blob == blob
        assert rec.status_reason == "RecordingNotFound (audio_missing)"
        assert s.scalars(select(ReviewTask).where(ReviewTask.recording_id == rid)).all() == []
    return rid, blob, sealed


def _job_of(platform, rid: str) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        job = s.scalars(
            select(jobs.Job).where(jobs.Job.kind == PROCESS_JOB, jobs.Job.subject == rid)
        ).one()
        assert job.state == jobs.JobState.FAILED
        return job.id


def _retry(platform, job_id: str) -> None:  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        jobs.retry(s, job_id)
    _run_jobs(platform, utcnow())


@pytest.mark.slow
@pytest.mark.data
def test_a_failed_recording_loses_its_received_audio_after_the_keep(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    clip = np.concatenate(
        [private_talk(shared_data, PRIVATE_S), wake_word(shared_data), request_speech]
    )
    rid, blob, _sealed = _fails_for_good(reviewing, device, clip)
    keep_s = reviewing.settings.failed_audio_keep_s
    assert 0 < keep_s <= 30 * 86400

    # Within the keep, the sweep leaves it for a retry.
    sweep_retention(reviewing, utcnow() + timedelta(seconds=keep_s - 60))
    purges.run(reviewing)
    assert reviewing.blobs.exists(blob)
    with reviewing.sessions() as s:
        assert s.get(Recording, rid).audio_blob == blob

    report = sweep_retention(reviewing, utcnow() + timedelta(seconds=keep_s + 60))
    assert report.failed_audio_purged == 1
    purges.run(reviewing)
    assert not reviewing.blobs.exists(blob)
    assert list(reviewing.blobs.list(f"audio/{device.household_id}/")) == []
    with reviewing.sessions() as s:
        rec = s.get(Recording, rid)
        assert rec.status == Status.FAILED and rec.audio_blob is None
        assert rec.status_reason == "RecordingNotFound (audio_missing)"
        [gone] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.subject == rid, AuditEvent.action == "recordings.purge_audio"
            )
        ).all()
        assert gone.reason == FAILED_PURGE and gone.details == {"audio_purged": True}
        assert gone.actor == "system:retention"
        what, _why = what_happened(gone.action, gone.reason)  # the owner's access log
        assert what == "erased the audio of a recording that could not be processed"
        assert s.scalar(select(purges.Purge.id).limit(1)) is None
    # Idempotent: a later sweep finds nothing more to do.
    assert sweep_retention(reviewing, utcnow() + timedelta(days=60)).failed_audio_purged == 0

    # A retry after the purge ends at once, saying why, and does not loop.
    job_id = _job_of(reviewing, rid)
    for _ in range(2):
        _retry(reviewing, job_id)
        with reviewing.sessions() as s:
            assert s.get(jobs.Job, job_id).state == jobs.JobState.DONE
            rec = s.get(Recording, rid)
            assert rec.status == Status.FAILED and rec.status_reason == pipeline.AUDIO_PURGED
            said = s.scalars(
                select(AuditEvent.reason).where(
                    AuditEvent.subject == rid, AuditEvent.action == "pipeline.failed"
                )
            ).all()
        assert said.count(pipeline.AUDIO_PURGED) == 1
    with reviewing.sessions() as s:
        assert s.scalars(select(ReviewTask)).all() == []


@pytest.mark.slow
@pytest.mark.data
def test_a_retry_within_the_keep_trims_as_usual(reviewing, device, shared_data, request_speech):  # type: ignore[no-untyped-def]
    private = private_talk(shared_data, PRIVATE_S)
    clip = np.concatenate([private, wake_word(shared_data), request_speech])
    rid, blob, _sealed = _fails_for_good(reviewing, device, clip)
    _retry(reviewing, _job_of(reviewing, rid))
    with reviewing.sessions() as s:
        rec = s.get(Recording, rid)
    assert rec.status == Status.TRANSCRIBED and rec.status_reason is None
    kept = stored_audio(reviewing, rec)
    assert 0 < kept.size <= clip.size - private.size  # nothing before the wake word
    assert rec.audio_blob != blob and not reviewing.blobs.exists(blob)
    assert [b.key for b in reviewing.blobs.list(f"audio/{device.household_id}/")] == [
        rec.audio_blob
    ]
    with reviewing.sessions() as s:
        assert s.scalars(select(ReviewTask.recording_id)).all() == [rid]
    # The sweep leaves a recording retried into being: it is no longer failed.
    report = sweep_retention(reviewing, utcnow() + timedelta(days=60))
    assert report.failed_audio_purged == 0
    assert reviewing.blobs.exists(rec.audio_blob)


@pytest.mark.slow
@pytest.mark.data
def test_a_retry_after_the_purge_was_scheduled_leaves_the_audio_to_it(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    """The purge is scheduled but not yet done (the store refused it, say): a retry then must not
    process the clip, nor leave the row pointing at a blob about to go."""
    clip = np.concatenate(
        [private_talk(shared_data, PRIVATE_S), wake_word(shared_data), request_speech]
    )
    rid, blob, _sealed = _fails_for_good(reviewing, device, clip)
    later = utcnow() + timedelta(seconds=reviewing.settings.failed_audio_keep_s + 60)
    info = dict(reviewing.sessions.kw.get("info") or {})
    info.pop(purges.RUNNER_INFO)
    reviewing.sessions.configure(info=info)  # purges are no longer tried as they commit
    assert purge_failed_audio(reviewing, later, later) == 1
    assert reviewing.blobs.exists(blob)
    _retry(reviewing, _job_of(reviewing, rid))
    with reviewing.sessions() as s:
        rec = s.get(Recording, rid)
        assert rec.status == Status.FAILED and rec.status_reason == pipeline.AUDIO_PURGED
        assert s.scalars(select(ReviewTask)).all() == []
    purges.run(reviewing)
    assert not reviewing.blobs.exists(blob)
    with reviewing.sessions() as s:
        assert s.get(Recording, rid).audio_blob is None


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


@pytest.mark.slow
@pytest.mark.data
def test_a_job_failing_after_its_outcome_was_stored_keeps_that_outcome(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    """A job failing for good after it stored the trimmed clip (a later step, on its last attempt)
    leaves the recording as stored: were it ``failed``, the sweep would purge a clip in review and
    a retry would run the pipeline again on audio whose wake word was cut."""
    clip = np.concatenate([wake_word(shared_data), request_speech])
    rid = ingest(reviewing, device, to_wav_bytes(clip)).recording.id
    _run_jobs(reviewing, utcnow())
    pipeline.mark_failed(reviewing, rid, "KeyError")  # the job's on_failure
    with reviewing.sessions() as s:
        rec = s.get(Recording, rid)
    assert rec.status == Status.TRANSCRIBED and rec.status_reason is None
    assert sweep_retention(reviewing, utcnow() + timedelta(days=60)).failed_audio_purged == 0
    purges.run(reviewing)
    assert reviewing.blobs.exists(rec.audio_blob)
