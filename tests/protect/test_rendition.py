"""Disguised renditions are made by a job when a clip is sampled; serving only opens and marks them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import func, select, update

from overheard import jobs
from overheard.audit import AuditEvent
from overheard.crypto.aead import seal
from overheard.db import transaction
from overheard.protect import _cache, _marking, rendition, serving
from overheard.protect._cache import DISGUISED_KIND, MARKED_SUFFIX
from overheard.protect._tables import DisguisedClip
from overheard.protect.disguise import DISGUISE_VERSION, METHOD_VERSIONS
from overheard.protect.watermark import FIRST_TILES_SHAPE, embed, mark_to_signal_db
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import Recording
from overheard.review.sampler import DISGUISE_JOB
from tests.privacy._world import (
    add_clip,
    claim,
    later,
    prepare,
    sample_after_transcription_only,
    stored_rendition,
)

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def served(platform):  # type: ignore[no-untyped-def]
    """The platform with the serving hooks and the rendition job on."""
    serving.install(platform)
    return platform


def pending(platform, recording_id: str) -> int:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(jobs.Job)
                .where(jobs.Job.subject == recording_id, jobs.Job.kind == DISGUISE_JOB)
                .where(jobs.Job.state.in_(["queued", "running"]))
            )
            or 0
        )


def test_sampling_queues_the_rendition_with_the_task(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household)
    sample_after_transcription_only(served, clip)
    assert pending(served, clip.recording_id) == 1
    prepare(served, clip.recording_id)
    assert pending(served, clip.recording_id) == 0
    with served.sessions() as s:
        row = s.get(DisguisedClip, clip.recording_id)
        made = s.scalars(select(AuditEvent).where(AuditEvent.action == "audio.disguise")).all()
    assert row is not None and row.method_version == DISGUISE_VERSION
    assert [(e.actor, e.subject) for e in made] == [("system:disguise", clip.recording_id)]
    blob = served.blobs.get(row.blob_key)
    assert clip.pcm.tobytes()[:64] not in blob  # sealed, not plain PCM


def test_a_serve_without_rendition_queues_one_and_answers_503(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household)
    sample_after_transcription_only(served, clip)
    with served.sessions() as s:  # as if the sampling job died before it ran the rendition
        s.execute(update(jobs.Job).values(state="done"))
        s.commit()
    lease = claim(served, "R-a1")
    for second in (1, 2):
        with pytest.raises(rendition.AudioPreparing) as busy:
            serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(second))
        assert (busy.value.status, busy.value.code, busy.value.retry_after_s) == (
            503,
            "audio_preparing",
            2,
        )
    assert pending(served, clip.recording_id) == 1  # asked twice, queued once
    with served.sessions() as s:
        assert s.scalar(select(func.count()).select_from(serving.Watermark)) == 0
    prepare(served, clip.recording_id)
    out = serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(3))
    assert out.duration_s == pytest.approx(len(clip.pcm) / 16000)


@sqlite_only
def test_serving_streams_the_stored_rendition_marked(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household, seconds=2.0)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    lease = claim(served, "R-a1")
    out = serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    heard, _rate = sf.read(io.BytesIO(out.wav), dtype="int16")
    stored = stored_rendition(served, clip.recording_id)
    # The stored rendition plus this serve's mark, nothing new: exactly what marking the stored
    # rendition with the serve's id gives (the per-rendition cache of _marking included). The
    # mark is smaller than the signal (-9 … -13 dB on this synthetic buzz, measured on 25 keys).
    key = served.secrets["watermark"]
    assert np.array_equal(heard, embed(stored, out.watermark_id, key))
    assert mark_to_signal_db(stored, heard) < -3
    with served.sessions() as s:
        made = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "audio.disguise")
        )
    assert made == 1  # the job's, not the serve's


def test_a_rendition_is_stored_with_the_watermarks_first_measurement(served, make_household):  # type: ignore[no-untyped-def]
    """The job seals the mark's id-free first measurement with the disguised PCM, so no serve
    measures the unmarked clip again; the serve test above holds the marked bytes to ``embed``."""
    clip = add_clip(served, make_household, seconds=2.0)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    with transaction(served.sessions) as s:
        rec = s.get(Recording, clip.recording_id)
        stored = _cache.open_cached(s, served.gate, rec, actor="test", purpose="test")
    assert stored is not None and stored.blob_key.endswith(MARKED_SUFFIX)
    assert stored.first_tiles is not None and stored.first_tiles.shape == FIRST_TILES_SHAPE
    pcm = np.frombuffer(stored.pcm, dtype="<i2").astype(np.int16)
    assert np.array_equal(stored.first_tiles, _marking.first_measurement(pcm))


@sqlite_only
def test_a_rendition_stored_without_the_measurement_is_served_alike(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household, seconds=2.0)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    plain = stored_rendition(served, clip.recording_id)
    with transaction(served.sessions) as s:  # as renditions were stored before the measurement
        rec = s.get(Recording, clip.recording_id)
        key = _cache.new_blob_key(rec)
        data_key = served.gate.keyring.data_key(s, rec.household_id)
        sealed = seal(data_key, plain.tobytes(), record_id=rec.id, kind=DISGUISED_KIND)
        served.blobs.put(key, sealed)
        s.get(DisguisedClip, clip.recording_id).blob_key = key
    lease = claim(served, "R-a1")
    out = serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    heard, _rate = sf.read(io.BytesIO(out.wav), dtype="int16")
    assert np.array_equal(heard, embed(plain, out.watermark_id, served.secrets["watermark"]))


@sqlite_only
def test_an_older_method_version_is_served_then_made_again(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    with transaction(served.sessions) as s:
        row = s.get(DisguisedClip, clip.recording_id)
        old_key = row.blob_key
        row.method_version = DISGUISE_VERSION - 1
    lease = claim(served, "R-a1")
    serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    assert pending(served, clip.recording_id) == 1
    prepare(served, clip.recording_id)
    with served.sessions() as s:
        row = s.get(DisguisedClip, clip.recording_id)
    assert row.method_version == DISGUISE_VERSION and row.blob_key != old_key
    keys = [b.key for b in served.blobs.list(f"disguised/{clip.household_id}/")]
    assert keys == [row.blob_key]  # the replaced copy is gone


def test_the_job_is_idempotent_and_skips_deleted_recordings(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    assert rendition.render(served, clip.recording_id) is False  # already made
    gone = add_clip(served, make_household)
    sample_after_transcription_only(served, gone)
    delete_recordings(
        served, gone.household_id, [gone.recording_id], actor="customer", scope={"kind": "one"}
    )
    assert rendition.render(served, gone.recording_id) is False
    assert list(served.blobs.list(f"disguised/{gone.household_id}/")) == []
    assert DISGUISED_KIND == "audio.disguised.pcm16"


def test_any_platform_deletes_a_rendition_with_its_recording(platform, make_household):  # type: ignore[no-untyped-def]
    # A worker or command-line platform never ran serving.install: its deletions must still remove
    # the sealed rendition, not leave it for a sweep.
    serving.register()
    clip = add_clip(platform, make_household)
    sample_after_transcription_only(platform, clip)
    prepare(platform, clip.recording_id)
    assert len(list(platform.blobs.list(f"disguised/{clip.household_id}/"))) == 1
    receipt = delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    assert receipt.body["counts"]["disguised_copies"] == 1
    assert list(platform.blobs.list(f"disguised/{clip.household_id}/")) == []


@sqlite_only
def test_switching_the_method_remakes_renditions_with_it(served, make_household):  # type: ignore[no-untyped-def]
    clip = add_clip(served, make_household)
    sample_after_transcription_only(served, clip)
    prepare(served, clip.recording_id)
    knnvc = stored_rendition(served, clip.recording_id)
    served.settings = served.settings.model_copy(update={"disguise_method": "world"})
    lease = claim(served, "R-a1")
    serving.clip_for_lease(served, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    assert pending(served, clip.recording_id) == 1  # the knnvc copy is served once, then re-made
    prepare(served, clip.recording_id)
    with served.sessions() as s:
        row = s.get(DisguisedClip, clip.recording_id)
        made = s.scalars(select(AuditEvent).where(AuditEvent.action == "audio.disguise")).all()
    assert row.method_version == METHOD_VERSIONS["world"]
    assert made[-1].details["method"] == "world"
    world = stored_rendition(served, clip.recording_id)
    assert len(world) == len(knnvc) and not np.array_equal(world, knnvc)


def test_turning_review_off_removes_the_households_renditions(platform, make_household):  # type: ignore[no-untyped-def]
    """A rendition exists only to be reviewed: when the household turns review off, it goes (its
    blob by a purge), as with a ``sensitive`` flag; another household's stays."""
    from overheard.review.consent import set_human_review

    serving.register()
    clip, other = add_clip(platform, make_household), add_clip(platform, make_household)
    for each in (clip, other):
        sample_after_transcription_only(platform, each)
        prepare(platform, each.recording_id)
    with transaction(platform.sessions) as s:
        set_human_review(s, clip.household_id, False, actor="customer", now=later(1))
    assert list(platform.blobs.list(f"disguised/{clip.household_id}/")) == []
    assert len(list(platform.blobs.list(f"disguised/{other.household_id}/"))) == 1
    with platform.sessions() as s:
        kept = list(s.scalars(select(DisguisedClip.recording_id)))
    assert kept == [other.recording_id]
