"""Backing services go away under load and come back: every answer is a success, a 4xx or a 503
with the JSON error shape and Retry-After, within a bounded time, and every acknowledged upload is
there afterwards exactly once. Real PostgreSQL and a moto S3 server behind relays the test cuts,
and a private Redis the test kills and restarts."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from overheard.config import Settings
from overheard.platform import Platform, initialise
from overheard.recordings.models import Recording
from overheard.web import create_app
from tests.conftest import tone_wav
from tests.ops.services import Service, TcpProxy, redis_service, s3_service, wait_for_port
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, create_bucket, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ANSWER_BOUND_S = 15.0
"""No request may take longer than this while a service is away (timeouts on every call)."""
UPLOADS_PER_PHASE = 4


@dataclass
class World:
    """The backends of the test deployment and the switches that cut them."""

    postgres: TcpProxy
    s3: TcpProxy
    redis: Service
    statuses: list[int] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)
    """Idempotency-Key -> recording id of every upload answered 200/201."""
    pending: list[str] = field(default_factory=list)
    """Idempotency-Keys answered 503, to send again."""


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    if not database_url.startswith("postgresql"):
        pytest.skip("the fault run is on PostgreSQL")
    moto, redis = s3_service(tmp_path), redis_service(tmp_path)
    moto.start()
    redis.start()
    db_port = urlsplit(database_url).port or 5432
    world = World(TcpProxy(db_port), TcpProxy(moto.port), redis)
    world.postgres.up()
    world.s3.up()
    try:
        yield world
    finally:
        world.postgres.down()
        world.s3.down()
        redis.stop()
        moto.stop()


def through_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
def faulty_settings(tmp_path: Path, database_url: str, world: World) -> Settings:
    s3_url = f"http://127.0.0.1:{world.s3.port}"
    bucket = create_bucket(s3_url)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=through_proxy(database_url, world.postgres.port),
        blob_url=f"s3://{bucket.name}/clips",
        s3_endpoint_url=s3_url,
        s3_access_key=TEST_ACCESS_KEY,
        s3_secret_key=TEST_SECRET_KEY,
        s3_timeout_s=1.0,
        s3_max_attempts=2,
        broker_url=f"redis://127.0.0.1:{world.redis.port}/0",
        broker_timeout_s=1.0,
        database_connect_timeout_s=2.0,
    ).resolved()


def upload(client: TestClient, world: World, token: str, key: str) -> None:
    started = time.monotonic()
    resp = client.post(
        "/api/v1/utterances",
        content=tone_wav(0.5),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )
    check_answer(resp, started)
    world.statuses.append(resp.status_code)
    if resp.status_code in (200, 201):
        world.acknowledged[key] = resp.json()["id"]
    else:
        world.pending.append(key)


def check_answer(resp, started: float) -> None:  # type: ignore[no-untyped-def]
    elapsed = time.monotonic() - started
    assert elapsed < ANSWER_BOUND_S, f"{resp.request.url.path} took {elapsed:.1f} s"
    assert resp.status_code < 500 or resp.status_code == 503, resp.text
    if resp.status_code == 503:
        assert resp.headers["Retry-After"].isdigit()
        assert resp.json()["error"]["code"] == "service_unavailable"


def probe(client: TestClient, token: str, ids: list[str]) -> list[int]:
    """Other routes during the outage: reading an utterance, the home page, readiness."""
    codes = []
    for path in [*(f"/api/v1/utterances/{rid}" for rid in ids[:2]), "/", "/readyz", "/healthz"]:
        started = time.monotonic()
        resp = client.get(path, headers={"Authorization": f"Bearer {token}"})
        check_answer(resp, started)
        codes.append(resp.status_code)
    return codes


def resend_pending(client: TestClient, world: World, token: str) -> None:
    keys, world.pending = world.pending, []
    for key in keys:
        upload(client, world, token, key)
    assert not world.pending, "a resent upload still failed with every service back"


@pytest.mark.parametrize("fault", ["postgres", "s3", "redis"])
def test_outage_answers_503_and_loses_nothing(faulty_settings, world: World, fault: str):
    initialise(faulty_settings)
    platform = Platform.open(faulty_settings)
    from overheard.db import transaction
    from overheard.identity.service import enrol_household

    with transaction(platform.sessions) as session:
        hh = enrol_household(
            session, platform.keyring, platform.secrets,
            name="Ada", account="ACC-1", email="a@example.org", serial="SN-1",
        )  # fmt: skip
    stop = {"postgres": world.postgres.down, "s3": world.s3.down, "redis": world.redis.stop}
    start = {"postgres": world.postgres.up, "s3": world.s3.up, "redis": world.redis.start}
    try:
        with TestClient(create_app(platform, run_workers=False)) as client:
            for i in range(UPLOADS_PER_PHASE):
                upload(client, world, hh.device_token, f"before-{i}")
            assert set(world.statuses) == {201}
            stop[fault]()
            for i in range(UPLOADS_PER_PHASE):
                upload(client, world, hh.device_token, f"during-{i}")
            codes = probe(client, hh.device_token, list(world.acknowledged.values()))
            ready = client.get("/readyz")
            assert ready.status_code == 503
            failing = {"postgres": "database", "s3": "blob_store", "redis": "broker"}[fault]
            assert ready.json()["checks"][failing] != "ok"
            start[fault]()
            resend_pending(client, world, hh.device_token)
            assert client.get("/readyz").status_code == 200
        if fault != "redis":
            assert 503 in world.statuses + codes
        assert len(world.acknowledged) == 2 * UPLOADS_PER_PHASE
        with platform.sessions() as session:
            rows = session.scalar(select(func.count()).select_from(Recording))
            for rid in world.acknowledged.values():
                rec = session.get(Recording, rid)
                assert rec is not None and platform.blobs.exists(rec.audio_blob)
        assert rows == len(set(world.acknowledged.values()))
    finally:
        platform.close()


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real HTTP server in a thread (the device speaks HTTP to it)."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_device_waits_at_least_the_servers_retry_after(faulty_settings, world: World, tmp_path):
    """The reference device turns a 503 into Unreachable carrying Retry-After, and its uploader
    waits at least that long before the next try."""
    from overheard.db import transaction, utcnow
    from overheard.device.client import DeviceClient, Unreachable
    from overheard.device.delivery import Uploader
    from overheard.device.queue import OfflineQueue, load_or_create_key
    from overheard.identity.service import enrol_household

    initialise(faulty_settings)
    platform = Platform.open(faulty_settings)
    with transaction(platform.sessions) as session:
        hh = enrol_household(
            session, platform.keyring, platform.secrets,
            name="Bo", account="ACC-2", email="b@example.org", serial="SN-2",
        )  # fmt: skip
    try:
        with serving(create_app(platform, run_workers=False)) as url:
            device = DeviceClient(url, hh.device_token)
            queue = OfflineQueue(tmp_path / "queue", load_or_create_key(tmp_path / "device.key"))
            queue.put(tone_wav(0.5), utcnow())
            uploader = Uploader(device, queue)
            world.postgres.down()
            with pytest.raises(Unreachable) as caught:
                device.status("0" * 32)
            assert caught.value.retry_after_s == faulty_settings.retry_after_s
            assert uploader.step() >= faulty_settings.retry_after_s
            assert len(queue) == 1 and uploader.offline
            world.postgres.up()
            assert uploader.step() == 0.0 and len(queue) == 0
            device.close()
    finally:
        platform.close()
