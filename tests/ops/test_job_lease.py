"""A running job keeps its lease by heartbeats; a dead worker's job is reclaimed soon after its
lease (``job_lease_s``) runs out, by a worker in another process."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from overheard import jobs
from overheard.config import Settings
from overheard.db import transaction, utcnow
from tests.ops.lease_child import HANG_KIND, start_worker

LEASE_S = 2.0
HEARTBEAT_S = 0.4


@pytest.fixture
def settings(tmp_path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        job_lease_s=LEASE_S,
        job_heartbeat_s=HEARTBEAT_S,
    ).resolved()


def enqueue_hang(platform) -> str:  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as session:
        return jobs.enqueue(session, HANG_KIND, "subject").id


def test_heartbeats_keep_a_live_workers_job_and_death_frees_it(platform):
    job_id = enqueue_hang(platform)
    child = start_worker(platform.settings, job_id)
    try:
        time.sleep(LEASE_S * 2)  # well past one lease: only heartbeats can have kept it
        assert jobs.claim(platform.sessions, job_id=job_id, lease_s=LEASE_S) is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    died = time.monotonic()
    reclaimed = None
    while reclaimed is None and time.monotonic() - died < LEASE_S + 5:
        reclaimed = jobs.claim(platform.sessions, job_id=job_id, lease_s=LEASE_S)
        time.sleep(0.05)
    assert reclaimed is not None, "a dead worker's job was not reclaimed"
    assert reclaimed.attempts == 2
    assert time.monotonic() - died <= LEASE_S + HEARTBEAT_S + 1


def test_extend_lease_only_for_the_claim_that_holds_it(platform):
    job_id = enqueue_hang(platform)
    now = utcnow()
    first = jobs.claim(platform.sessions, job_id=job_id, now=now, lease_s=1)
    later = now + timedelta(seconds=2)
    second = jobs.claim(platform.sessions, job_id=job_id, now=later, lease_s=1)
    assert first is not None and second is not None
    assert not jobs.extend_lease(platform.sessions, first, 60, now=later)
    assert jobs.extend_lease(platform.sessions, second, 60, now=later)
