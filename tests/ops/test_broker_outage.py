"""A stored upload is never answered with an error because the broker is down: it is acknowledged
201, its job waits in the jobs table (the outbox), and the worker's scan announces it once the
broker is back. Real Redis, started and killed by the test."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from overheard.celery_app import make_celery
from overheard.config import Settings
from overheard.jobs import Job, JobState
from overheard.tasks import reannounce_due
from tests.conftest import tone_wav
from tests.ops.services import Service, redis_service

BROKER_TIMEOUT_S = 1.0
ANSWER_BOUND_S = 10.0
"""An upload must be answered within this while the broker is away."""


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    service = redis_service(tmp_path)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_server: Service) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        broker_url=f"redis://127.0.0.1:{redis_server.port}/0",
        broker_timeout_s=BROKER_TIMEOUT_S,
    ).resolved()


def announced(port: int) -> list[str]:
    """The argument lists of the task messages waiting in the broker's default queue."""
    client = redis.Redis(port=port)
    try:
        return [json.loads(raw)["headers"]["argsrepr"] for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()


def job_of(platform, recording_id: str) -> Job:  # type: ignore[no-untyped-def]
    with platform.sessions() as session:
        return session.scalars(select(Job).where(Job.subject == recording_id)).one()


def post(client, token: str, key: str):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return client.post("/api/v1/utterances", content=tone_wav(), headers=headers)


def test_upload_is_announced_while_the_broker_is_up(client, platform, make_household, redis_server):
    hh = make_household()
    resp = post(client, hh.device_token, "up-1")
    assert resp.status_code == 201, resp.text
    job = job_of(platform, resp.json()["id"])
    assert any(job.id in args for args in announced(redis_server.port))


def test_upload_answers_201_with_broker_down_and_scan_announces_it_later(
    client, platform, make_household, redis_server
):
    hh = make_household()
    redis_server.stop()
    started = time.monotonic()
    resp = post(client, hh.device_token, "down-1")
    assert time.monotonic() - started < ANSWER_BOUND_S
    assert resp.status_code == 201, resp.text
    job = job_of(platform, resp.json()["id"])
    assert job.state == JobState.QUEUED.value

    replay = post(client, hh.device_token, "down-1")
    assert replay.status_code == 200 and replay.json()["id"] == resp.json()["id"]

    redis_server.start()
    assert not any(job.id in args for args in announced(redis_server.port))
    celery = make_celery(platform.settings.broker_url, timeout_s=BROKER_TIMEOUT_S)
    assert reannounce_due(platform.sessions, celery) >= 1
    assert any(job.id in args for args in announced(redis_server.port))


def test_scan_survives_the_broker_being_down(platform, redis_server):
    redis_server.stop()
    celery = make_celery(platform.settings.broker_url, timeout_s=BROKER_TIMEOUT_S)
    with platform.sessions() as session, session.begin():
        from overheard.jobs import enqueue

        enqueue(session, "process_recording", "r1")
    started = time.monotonic()
    assert reannounce_due(platform.sessions, celery) == 0
    assert time.monotonic() - started < ANSWER_BOUND_S
