"""A clip posted to a running server reaches `transcribed` or `accidental` by itself, on both job
backends: in-process worker threads, and Celery workers on a Redis of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from overheard.demo import espeak_available, synthesise
from overheard.speech.audio import to_wav_bytes
from tests.ops.services import redis_service
from tests.test_live_server import Server, enrol

pytestmark = pytest.mark.slow


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    """A private Redis on a free port: no other test (or test run) shares its queues."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = redis_service(tmp_path)
    redis.start()
    try:
        yield f"redis://127.0.0.1:{redis.port}/0"
    finally:
        redis.stop()


def wait_for_final(server_url: str, token: str, rid: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    status = "?"
    while time.monotonic() < deadline:
        resp = httpx.get(
            f"{server_url}/api/v1/utterances/{rid}", headers={"Authorization": f"Bearer {token}"}
        )
        status = resp.json().get("status", "?")
        if status not in ("received", "processing"):
            return status
        time.sleep(0.5)
    return status


def post(server_url: str, token: str, wav: bytes) -> str:
    resp = httpx.post(
        f"{server_url}/api/v1/utterances",
        content=wav,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.fixture
def clips() -> tuple[bytes, bytes]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    request = to_wav_bytes(synthesise("Alexa, what's the weather in London", "en-gb"))
    chatter = to_wav_bytes(synthesise("did anyone remember to feed the cat", "en-gb"))
    return request, chatter


@pytest.mark.parametrize("backend", ["in-process", "celery"])
def test_posted_clip_is_processed_by_itself(
    tmp_path: Path, database_url: str, clips, backend, request: pytest.FixtureRequest
):
    env = {"OVERHEARD_DATABASE_URL": database_url}
    if backend == "celery":
        env["OVERHEARD_BROKER_URL"] = request.getfixturevalue("broker_url")
    data_dir = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        check=True,
    )
    token = enrol(data_dir, database_url)
    server = Server(data_dir, database_url, **env)
    server.start()
    worker = None
    try:
        if backend == "celery":
            with (tmp_path / "worker.log").open("wb") as log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "overheard", "worker", "--data-dir", str(data_dir)],
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        request, chatter = clips
        rid_request = post(server.url, token, request)
        rid_chatter = post(server.url, token, chatter)
        assert wait_for_final(server.url, token, rid_request) == "transcribed"
        assert wait_for_final(server.url, token, rid_chatter) == "accidental"
    finally:
        if worker is not None:
            # Celery's warm shutdown waits for a message it had just prefetched (kombu restores it
            # to Redis, which took 31 s once); what is tested here is done, so it is not waited for
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=30)
        server.stop()
