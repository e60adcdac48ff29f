"""Group commit of uploads: shared transactions stay durable, audited and isolated per upload."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from overheard import audit, groupcommit
from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.errors import KeyUnavailable
from overheard.groupcommit import GroupCommitter
from overheard.households import Device
from overheard.jobs import Job
from overheard.recordings import ingest as ingest_module
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording
from tests.conftest import tone_wav


def _device(platform, hh) -> Device:
    with platform.sessions() as s:
        return s.get(Device, hh.device_id)


def _event(name: str):
    def unit(session):
        return audit.append(session, actor="test", action="test.unit", subject=name, flush=False)

    return unit


def _held(committer: GroupCommitter) -> threading.Event:
    """Occupy the writer until the returned event is set, so later units queue into one batch."""
    started, release = threading.Event(), threading.Event()

    def hold(session):
        started.set()
        release.wait(10)

    committer.submit(hold)
    assert started.wait(10)
    return release


def test_units_pending_together_share_one_commit(platform):
    committer = GroupCommitter(platform.sessions)
    release = _held(committer)
    futures = [committer.submit(_event(f"u{i}")) for i in range(10)]
    release.set()
    seqs = [f.result(10).seq for f in futures]
    committer.close()
    assert committer.commits == 2  # the holding unit, then all ten together
    assert sorted(seqs) == seqs and len(set(seqs)) == 10
    with platform.sessions() as s:
        assert audit.verify_chain(s).ok
        assert s.scalar(select(func.count()).where(AuditEvent.action == "test.unit")) == 10


def test_a_unit_run_while_idle_commits_in_its_callers_thread(platform):
    committer = GroupCommitter(platform.sessions)
    ran_in = []

    def unit(session):
        ran_in.append(threading.current_thread())
        return _event("alone")(session)

    event = committer.run(unit)
    committer.close()
    assert ran_in == [threading.current_thread()] and committer.commits == 1
    with platform.sessions() as s:
        assert s.get(audit.AuditEvent, event.seq).subject == "alone"


def test_units_arriving_while_a_caller_commits_its_own_go_together_after_it(platform):
    committer = GroupCommitter(platform.sessions)
    started, release = threading.Event(), threading.Event()

    def hold(session):
        started.set()
        release.wait(10)
        return _event("first")(session)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(committer.run, hold)
        assert started.wait(10)
        futures = [committer.submit(_event(f"u{i}")) for i in range(5)]
        time.sleep(0.2)
        assert not any(f.done() for f in futures)  # nothing commits beside the caller's unit
        release.set()
        seqs = [first.result(10).seq] + [f.result(10).seq for f in futures]
    committer.close()
    assert committer.commits == 2  # the caller's unit, then the five together
    assert seqs == sorted(seqs) and len(set(seqs)) == 6


def test_a_failing_unit_fails_alone_and_the_chain_stays_whole(platform):
    committer = GroupCommitter(platform.sessions)
    release = _held(committer)

    def fails_after_its_event(session):
        audit.append(session, actor="test", action="test.unit", subject="bad", flush=False)
        raise ValueError("this unit fails")

    before = [committer.submit(_event(f"a{i}")) for i in range(3)]
    bad = committer.submit(fails_after_its_event)
    after = [committer.submit(_event(f"b{i}")) for i in range(3)]
    release.set()
    with pytest.raises(ValueError, match="this unit fails"):
        bad.result(10)
    events = [f.result(10) for f in before + after]
    committer.close()
    with platform.sessions() as s:
        subjects = s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "test.unit"))
        assert sorted(subjects) == sorted(e.subject for e in events)
        assert audit.verify_chain(s).ok


def test_a_duplicate_row_fails_only_its_own_unit(platform, make_household):
    hh = make_household()
    committer = GroupCommitter(platform.sessions)
    with transaction(platform.sessions) as s:
        taken = s.get(Device, hh.device_id).token_hash

    def duplicate_device(session):
        session.add(Device(id="dup", household_id=hh.household_id, token_hash=taken))

    release = _held(committer)
    good = [committer.submit(_event(f"g{i}")) for i in range(4)]
    bad = committer.submit(duplicate_device)
    release.set()
    with pytest.raises(IntegrityError):
        bad.result(10)
    assert all(f.result(10).seq for f in good)
    committer.close()
    with platform.sessions() as s:
        assert s.get(Device, "dup") is None
        assert s.scalar(select(func.count()).where(AuditEvent.action == "test.unit")) == 4
        assert audit.verify_chain(s).ok


@pytest.mark.slow
def test_concurrent_uploads_are_all_durable_with_their_job_and_event(platform, make_household):
    households = [make_household() for _ in range(3)]
    devices = [_device(platform, hh) for hh in households]
    uploads = 36
    clips = [tone_wav(1.0, freq_hz=300.0 + 10 * i) for i in range(uploads)]

    def upload(i: int) -> str:
        return ingest(platform, devices[i % 3], clips[i]).recording.id

    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(upload, range(uploads)))
    assert len(set(ids)) == uploads
    assert platform.committer.commits < uploads  # some uploads shared a commit
    with platform.sessions() as s:
        for rid in ids:
            rec = s.get(Recording, rid)
            assert rec is not None and platform.blobs.exists(rec.audio_blob)
            assert s.scalar(select(func.count()).where(Job.subject == rid)) == 1
            ingested = select(func.count()).where(
                AuditEvent.subject == rid, AuditEvent.action == "recording.ingest"
            )
            assert s.scalar(ingested) == 1
        pcm = platform.gate.open_audio(s, s.get(Recording, ids[0]), actor="t", purpose="check")
        assert len(pcm) == 2 * 16000
        assert audit.verify_chain(s).ok


def test_an_upload_sealed_under_a_key_destroyed_meanwhile_is_refused(
    platform, make_household, monkeypatch
):
    hh = make_household()
    device = _device(platform, hh)
    real_store = ingest_module._store

    def destroy_then_store(recording, key, duration_s, dev, session):
        with transaction(platform.sessions) as other:
            platform.keyring.destroy(other, hh.household_id)
        return real_store(recording, key, duration_s, dev, session)

    # The destruction commits between the blob write and the row's commit.
    monkeypatch.setattr(ingest_module, "_store", destroy_then_store)
    with pytest.raises(KeyUnavailable):
        ingest(platform, device, tone_wav())
    with platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Recording)) == 0
    assert list(platform.blobs.list("audio/")) == []


def test_uploads_of_a_commit_that_failed_after_committing_are_kept(
    platform, make_household, monkeypatch
):
    device = _device(platform, make_household())
    real, commits = groupcommit.transaction, []

    @contextmanager
    def reports_failure_once_committed(factory):
        with real(factory) as session:
            yield session
        commits.append(1)
        if len(commits) == 2:  # the shared commit of the two uploads: done, yet reported failed
            raise OperationalError("COMMIT", {}, Exception("connection lost after the commit"))

    monkeypatch.setattr(groupcommit, "transaction", reports_failure_once_committed)
    release = _held(platform.committer)
    with ThreadPoolExecutor(2) as pool:
        uploads = [pool.submit(ingest, platform, device, tone_wav(freq_hz=f)) for f in (300, 400)]
        while len(platform.committer._pending) < 2:
            time.sleep(0.01)
        release.set()
        results = [u.result(30) for u in uploads]
    assert [r.created for r in results] == [True, True]
    with platform.sessions() as s:
        for result in results:
            rid = result.recording.id
            rec = s.get(Recording, rid)
            assert rec is not None and platform.blobs.exists(rec.audio_blob)
            assert s.scalar(select(func.count()).where(Job.subject == rid)) == 1
            assert s.scalar(select(func.count()).where(AuditEvent.subject == rid)) == 1
        assert audit.verify_chain(s).ok
