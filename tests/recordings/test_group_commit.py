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
    real_store = ingest_module._Store.__call__

    def destroy_then_store(unit, session):
        with transaction(platform.sessions) as other:
            platform.keyring.destroy(other, hh.household_id)
        return real_store(unit, session)

    # The destruction commits between the blob write and the row's commit.
    monkeypatch.setattr(ingest_module._Store, "__call__", destroy_then_store)
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


def _columns(session, table, **where) -> dict:
    """One row of ``table`` as stored (raw column values, through the table's types)."""
    query = select(*table.c).where(*(table.c[k] == v for k, v in where.items()))
    return dict(session.execute(query).one()._mapping)


def test_the_rows_an_upload_writes_are_those_the_orm_wrote(platform, make_household):
    """The upload's Core INSERTs write exactly what adding the ORM objects wrote: the recording
    (with its sealed blob's key), its queued job and its audit event, every column."""
    from overheard import jobs

    device = _device(platform, make_household())
    stored = ingest(platform, device, tone_wav(1.5), idempotency_key="k-core").recording
    twin = Recording(
        id="0" * 32, household_id=device.household_id, device_id=device.id,
        idempotency_key="k-orm", body_digest=stored.body_digest, captured_at=stored.captured_at,
        received_at=stored.received_at, duration_s=stored.duration_s,
        source_rate_hz=stored.source_rate_hz, source_format=stored.source_format,
        audio_blob=stored.audio_blob, status=stored.status,
    )  # fmt: skip
    because = jobs.Because(device.id, "recording.ingest", device.household_id, None,
                           {"duration_s": round(stored.duration_s, 3)})  # fmt: skip
    with transaction(platform.sessions) as s:
        s.add(twin)
        jobs.queue_audited(s, because, twin.id, kind=ingest_module.PROCESS_JOB,
                           now=twin.received_at, flush=False)  # fmt: skip
    differ = {"id", "idempotency_key", "subject", "seq", "prev_hash", "entry_hash"}
    with platform.sessions() as s:
        for table, key in ((Recording.__table__, "id"), (Job.__table__, "subject"),
                           (AuditEvent.__table__, "subject")):  # fmt: skip
            core = _columns(s, table, **{key: stored.id})
            orm = _columns(s, table, **{key: twin.id})
            assert set(core) == set(orm)
            assert {k: v for k, v in core.items() if k not in differ} == {
                k: v for k, v in orm.items() if k not in differ
            }, table.name
        assert _columns(s, Recording.__table__, id=stored.id)["idempotency_key"] == "k-core"
        assert audit.verify_chain(s).ok


def test_a_conflict_in_a_shared_commit_is_retried_per_upload_in_savepoints(
    platform, make_household
):
    """Two uploads with one Idempotency-Key in the same batch: the shared INSERT fails, each
    upload runs again in its own savepoint; the first is stored, the second answered with it, and
    an upload beside them is stored with its job and event."""
    hh = make_household()
    device = _device(platform, hh)
    body = tone_wav(freq_hz=500)
    release = _held(platform.committer)
    with ThreadPoolExecutor(3) as pool:
        same = [pool.submit(ingest, platform, device, body, idempotency_key="dup") for _ in "ab"]
        other = pool.submit(ingest, platform, device, tone_wav(freq_hz=600))
        while len(platform.committer._pending) < 3:
            time.sleep(0.01)
        commits = platform.committer.commits
        release.set()
        results = [u.result(30) for u in same]
        beside = other.result(30)
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].recording.id == results[1].recording.id
    # The holding unit, then the savepoint retry: the shared attempt rolled back.
    assert platform.committer.commits == commits + 2
    ids = {results[0].recording.id, beside.recording.id}
    with platform.sessions() as s:
        assert set(s.scalars(select(Recording.id))) == ids
        for rid in ids:
            assert platform.blobs.exists(s.get(Recording, rid).audio_blob)
            assert s.scalar(select(func.count()).where(Job.subject == rid)) == 1
            assert s.scalar(select(func.count()).where(AuditEvent.subject == rid)) == 1
        assert audit.verify_chain(s).ok
    assert len(list(platform.blobs.list("audio/"))) == 2  # the loser's blob was removed


def test_a_failing_unit_hears_of_it_only_after_the_others_committed(platform):
    """The loser of an Idempotency-Key race reads the winner's row as soon as its unit fails: in
    the savepoint path the failure must not be told before the winner's transaction commits."""
    committer = GroupCommitter(platform.sessions)
    release = _held(committer)
    winner = committer.submit(_event("winner"))

    def fails(session):
        raise ValueError("this unit fails")

    loser = committer.submit(fails)
    seen: list[int] = []

    def on_failure(_future) -> None:
        with platform.sessions() as s:
            seen.append(s.scalar(select(func.count()).where(AuditEvent.subject == "winner")))

    loser.add_done_callback(on_failure)
    release.set()
    with pytest.raises(ValueError, match="this unit fails"):
        loser.result(10)
    winner.result(10)
    committer.close()
    assert seen == [1]


def test_rows_left_by_a_failing_unit_are_not_written(platform):
    committer = GroupCommitter(platform.sessions)
    release = _held(committer)

    def leaves_a_row_then_fails(session):
        row = audit.next_event(session, actor="test", action="test.unit", subject="bad")
        groupcommit.insert_later(session, audit.INSERT_EVENT, row)
        raise ValueError("this unit fails")

    def leaves_a_row(name):
        def unit(session):
            row = audit.next_event(session, actor="test", action="test.unit", subject=name)
            groupcommit.insert_later(session, audit.INSERT_EVENT, row)
            return row["seq"]

        return unit

    good = [committer.submit(leaves_a_row(f"g{i}")) for i in range(2)]
    bad = committer.submit(leaves_a_row_then_fails)
    good += [committer.submit(leaves_a_row(f"h{i}")) for i in range(2)]
    release.set()
    with pytest.raises(ValueError, match="this unit fails"):
        bad.result(10)
    seqs = [f.result(10) for f in good]
    committer.close()
    with platform.sessions() as s:
        stored = s.execute(select(AuditEvent.seq, AuditEvent.subject).where(
            AuditEvent.action == "test.unit").order_by(AuditEvent.seq)).all()  # fmt: skip
        assert [seq for seq, _ in stored] == seqs
        assert [subject for _, subject in stored] == ["g0", "g1", "h0", "h1"]
        assert audit.verify_chain(s).ok


def test_insert_later_outside_a_committer_is_refused(platform):
    with transaction(platform.sessions) as s, pytest.raises(RuntimeError, match="GroupCommitter"):
        groupcommit.insert_later(s, audit.INSERT_EVENT, {})


def test_a_key_checked_in_a_rolled_back_savepoint_is_checked_again(platform, make_household):
    """Rolling a savepoint back releases the key row's lock it took (PostgreSQL): the next upload
    of the household in that transaction checks (and locks) the key again."""
    from sqlalchemy import event

    hh = make_household()
    with platform.readers() as s:
        key = platform.gate.sealing_key(s, hh.household_id)
    committer = GroupCommitter(platform.sessions)
    release = _held(committer)

    def checks_then_fails(session):
        key.check_current(session)
        raise ValueError("this unit fails")

    engine, reads = platform.sessions.kw["bind"], []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "FROM data_keys" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        bad = committer.submit(checks_then_fails)
        good = committer.submit(key.check_current)
        release.set()
        with pytest.raises(ValueError):
            bad.result(10)
        good.result(10)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        committer.close()
    # Together: one check for both; then each savepoint its own.
    assert len(reads) == 3


def test_an_upload_unit_run_again_after_its_commit_went_through_stores_nothing_twice(
    platform, make_household
):
    """A commit reported as failed may have gone through: the unit, run again, finds its row
    and answers with the job it queued, rather than failing on its own primary key."""
    device = _device(platform, make_household())
    with platform.readers() as s:
        key = platform.gate.sealing_key(s, device.household_id)
    recording = ingest_module._new_recording(
        device, ingest_module.decode_upload(tone_wav()), ingest_module.utcnow(),
        ingest_module.utcnow(), None,
    )  # fmt: skip
    unit = ingest_module._Store(recording, key, device)
    first = platform.committer.run(unit)
    assert platform.committer.run(unit) == first
    with platform.sessions() as s:
        assert s.scalar(select(func.count()).where(Recording.id == recording.id)) == 1
        assert s.scalar(select(func.count()).where(Job.subject == recording.id)) == 1
        assert s.scalar(select(func.count()).where(AuditEvent.subject == recording.id)) == 1
        assert s.get(Job, first).subject == recording.id
