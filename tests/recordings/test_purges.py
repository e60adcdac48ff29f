"""Purges on a blob store that refuses deletes now and then: nothing says "gone" before it is.

The store is real (a local folder, or moto's S3 server) wrapped so that some delete calls are
refused the way a struggling S3 refuses them. After every step the test checks the invariant:
no row, audit event or completed receipt says a blob is gone while the blob is still stored; and
retried purges (from a second platform instance too: any worker) finish the job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from overheard import purges
from overheard.audit import AuditEvent
from overheard.config import Settings
from overheard.db import transaction, utcnow
from overheard.households import Device
from overheard.jobs import Job, claim, run_claimed
from overheard.platform import Platform, initialise
from overheard.recordings import deletion
from overheard.recordings.gate import ContentGate
from overheard.recordings.ingest import ingest
from overheard.recordings.models import DeletionReceipt, Recording, Status
from overheard.speech import pipeline
from overheard.speech.audio import to_wav_bytes
from tests.conftest import tone_wav
from tests.s3server import create_bucket, moto_s3_server

FAR = timedelta(days=1)
"""Claim jobs as if this much later, so every retry delay has passed."""


class RefusedByStore(ConnectionError):
    """What the wrapped store raises for a refused call."""


class FlakyStore:
    """A real store whose ``delete`` calls are refused by a pattern (every call while ``down``)."""

    def __init__(self, inner, refuse_every: int = 0) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.url = inner, inner.url
        self.refuse_every, self.down, self.calls, self.refused = refuse_every, False, 0, 0
        self._lock = threading.Lock()

    def _refuse(self) -> bool:
        with self._lock:
            self.calls += 1
            no = self.down or (self.refuse_every and self.calls % self.refuse_every != 0)
            self.refused += bool(no)
            return bool(no)

    def delete(self, key: str) -> None:
        if self._refuse():
            raise RefusedByStore(f"delete {key}: service unavailable (test)")
        self.inner.delete(key)

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
        return self.inner.list(prefix)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint_url:
        yield endpoint_url


def _settings(tmp_path: Path, store: str, request: pytest.FixtureRequest, database_url: str) -> Settings:
    base = {"data_dir": tmp_path / "data", "database_url": database_url, "workers": 1, "job_retry_base_s": 0.01,
            "purge_retry_s": 0.01, "job_max_attempts": 2}
    if store == "s3":
        bucket = create_bucket(request.getfixturevalue("s3_endpoint"))
        base |= {"blob_url": f"s3://{bucket.name}/vault", "s3_endpoint_url": bucket.endpoint_url,
                 "s3_region": bucket.region, "s3_access_key": bucket.access_key,
                 "s3_secret_key": bucket.secret_key}
    return Settings(**base).resolved()


@pytest.fixture(params=["local", "s3"])
def flaky(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """A platform whose blob store refuses deletes as told (``platform.blobs`` is the wrapper)."""
    settings = _settings(tmp_path, request.param, request, database_url)
    initialise(settings)
    plat = Platform.open(settings)
    plat.blobs = FlakyStore(plat.blobs)
    plat.gate = ContentGate(plat.keyring, plat.blobs)
    pipeline.register()
    yield plat
    plat.close()


@pytest.fixture
def device(flaky, make_household_on) -> Device:  # type: ignore[no-untyped-def]
    return make_household_on(flaky)


@pytest.fixture
def make_household_on():  # type: ignore[no-untyped-def]
    from overheard.identity.service import enrol_household

    def make(plat: Platform) -> Device:
        n = make.count = getattr(make, "count", 0) + 1
        with transaction(plat.sessions) as s:
            hh = enrol_household(s, plat.keyring, plat.secrets, name="Ada", account=f"ACC-{n}",
                                 email=f"{n}@example.org", serial=f"SN-{n}")
        with plat.sessions() as s:
            return s.get(Device, hh.device_id)

    return make


def store_clips(plat: Platform, device: Device, n: int, *, wav: bytes | None = None) -> dict[str, str]:
    """``n`` uploads; recording id -> audio blob key."""
    out = {}
    for i in range(n):
        at = utcnow() - timedelta(hours=2, minutes=i)
        rec = ingest(plat, device, wav or tone_wav(0.5), captured_at=at, now=at).recording
        out[rec.id] = rec.audio_blob
    return out


def run_due_jobs(plat: Platform, limit: int = 400) -> int:
    """Run jobs as a worker would, each retry already due; how many ran."""
    ran = 0
    while ran < limit and (job := claim(plat.sessions, now=utcnow() + FAR)) is not None:
        run_claimed(plat, job)
        ran += 1
    return ran


def assert_nothing_claims_gone_while_stored(plat: Platform, keys: dict[str, str]) -> None:
    """The invariant: rows, audit events and completed receipts say "gone" only of absent blobs."""
    inner = plat.blobs.inner
    with plat.sessions() as s:
        rows = {r.id: r for r in s.scalars(select(Recording).where(Recording.id.in_(keys)))}
        events = s.scalars(select(AuditEvent).where(AuditEvent.subject.in_(keys))).all()
        completed = s.scalars(select(DeletionReceipt).where(DeletionReceipt.completed_at.is_not(None)))
        receipt_ids = set().union(*(set(r.body["recording_ids"] or []) for r in completed))
    for rid, key in keys.items():
        row = rows.get(rid)
        if (row is not None and row.audio_blob is None) or rid in receipt_ids:
            assert not inner.exists(key), f"{rid} is recorded purged but its blob is stored"
    for event in events:
        if (event.details or {}).get("audio_purged"):
            assert not inner.exists(keys[event.subject]), f"audit says {event.subject} purged"


def test_accidental_audio_is_recorded_purged_only_once_gone(flaky, device):
    keys = store_clips(flaky, device, 4, wav=to_wav_bytes(np.zeros(8000, dtype=np.int16)))
    flaky.blobs.down = True  # the store refuses every delete: S3 during an outage
    run_due_jobs(flaky, limit=12)  # the four pipeline jobs, then purge jobs failing and re-queued
    with flaky.sessions() as s:
        rows = s.scalars(select(Recording).where(Recording.id.in_(keys))).all()
        assert {r.status for r in rows} == {Status.ACCIDENTAL.value}
        assert all(r.audio_blob is not None for r in rows)
        assert purges.pending(s) == len(keys)
    assert flaky.blobs.refused >= len(keys)
    assert all(flaky.blobs.inner.exists(k) for k in keys.values())
    with flaky.sessions() as s:  # retry cycles reuse each batch's job row
        assert len(s.scalars(select(Job).where(Job.kind == purges.PURGE_JOB)).all()) == len(keys)
    assert_nothing_claims_gone_while_stored(flaky, keys)

    flaky.blobs.down, flaky.blobs.refuse_every = False, 3  # back, but refusing 2 calls in 3
    for _ in range(30):
        if not run_due_jobs(flaky, limit=3):
            break
        assert_nothing_claims_gone_while_stored(flaky, keys)
    with flaky.sessions() as s:
        assert purges.pending(s) == 0
        assert all(r.audio_blob is None
                   for r in s.scalars(select(Recording).where(Recording.id.in_(keys))))
        said = s.scalars(select(AuditEvent).where(AuditEvent.action == "recordings.purge_audio")).all()
        accidental = s.scalars(select(AuditEvent).where(AuditEvent.action == "pipeline.accidental")).all()
    assert sorted(e.subject for e in said) == sorted(keys)  # once each, when true
    assert all(e.details["audio_purged"] is True for e in said)
    assert all(e.details["audio_purged"] is False for e in accidental)
    assert not any(flaky.blobs.inner.exists(k) for k in keys.values())


def test_a_refused_purge_says_why_by_type_without_the_copys_key(flaky, device, caplog):
    """A store's refusal quotes the blob key (household and recording in it): the purge row and
    the log, read outside the content gate, keep the error's type and the purge's id only."""
    keys = store_clips(flaky, device, 2, wav=to_wav_bytes(np.zeros(8000, dtype=np.int16)))
    flaky.blobs.down = True
    with caplog.at_level("DEBUG", logger="overheard"):  # ours; a store library's debug log is its own
        run_due_jobs(flaky, limit=6)
    with flaky.sessions() as s:
        rows = s.scalars(select(purges.Purge)).all()
    assert len(rows) == len(keys)
    assert {r.last_error for r in rows} == {"RefusedByStore"}
    assert all(r.attempts >= 1 for r in rows)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("overheard"))
    assert "RefusedByStore" in logged and all(r.id in logged for r in rows)
    for key in keys.values():
        assert key not in logged
    assert device.household_id not in logged
    assert "service unavailable" not in logged


def test_every_deletion_path_completes_its_receipt_only_when_every_copy_is_gone(
    flaky, device, make_household_on
):
    keys = store_clips(flaky, device, 6)
    other = make_household_on(flaky)
    everything = store_clips(flaky, other, 3)
    ids = list(keys)
    flaky.blobs.down = True
    one = deletion.delete_recordings(flaky, device.household_id, ids[:1], actor="t",
                                     scope={"kind": "one"})
    ranged = deletion.delete_range(flaky, device.household_id, utcnow() - timedelta(days=1),
                                   utcnow(), actor="t")
    gone = deletion.delete_everything(flaky, other.household_id, actor="t")
    all_keys = keys | everything
    assert_nothing_claims_gone_while_stored(flaky, all_keys)
    with flaky.sessions() as s:
        receipts = {r.id: s.get(DeletionReceipt, r.id) for r in (one, ranged, gone)}
        assert all(row.completed_at is None for row in receipts.values())
        log = int(flaky.engine.dialect.name == "sqlite")  # SQLite's log, emptied at once
        assert {r.body["copies_to_remove"] for r in (one, ranged, gone)} == {1 + log, 5 + log, 3 + log}
        assert purges.pending(s) == 9
    assert all(flaky.blobs.inner.exists(k) for k in all_keys.values())

    # Another worker process (a second instance on the same database and store) finishes them.
    second = Platform.open(flaky.settings)
    second.blobs = FlakyStore(second.blobs, refuse_every=2)
    try:
        for _ in range(40):
            if not run_due_jobs(second, limit=2):
                break
            assert_nothing_claims_gone_while_stored(flaky, all_keys)
    finally:
        second.close()
    assert not any(flaky.blobs.inner.exists(k) for k in all_keys.values())
    with flaky.sessions() as s:
        assert purges.pending(s) == 0
        done = s.scalars(select(AuditEvent).where(AuditEvent.action == "recordings.purged")).all()
        assert {e.subject for e in done} == {one.id, ranged.id, gone.id}
        assert all(s.get(DeletionReceipt, r.id).completed_at is not None for r in (one, ranged, gone))


def test_racing_workers_complete_each_purge_once(flaky, device):
    keys = store_clips(flaky, device, 8)
    flaky.blobs.down = True
    deletion.delete_recordings(flaky, device.household_id, list(keys), actor="t", scope={"kind": "x"})
    flaky.blobs.down = False
    threads = [threading.Thread(target=purges.run, args=(flaky,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with flaky.sessions() as s:
        assert purges.pending(s) == 0
        done = s.scalars(select(AuditEvent).where(AuditEvent.action == "recordings.purged")).all()
    assert len(done) == 1
    assert not any(flaky.blobs.inner.exists(k) for k in keys.values())
