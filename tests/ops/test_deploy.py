"""`overheard deploy` starts two web processes and a worker against PostgreSQL, Redis and a local
S3 server; a small simulated device load goes through both web processes and is processed; the
metrics of both processes are pooled; SIGTERM stops everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROJECT_ROOT, tone_wav
from tests.ops.services import redis_service, s3_service, wait_for_port
from tests.ops.test_observe import sample
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
UPLOADS = 12
SETTLE_TIMEOUT_S = 240.0


@pytest.fixture
def backends(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    if not database_url.startswith("postgresql"):
        pytest.skip("the deployment runs on PostgreSQL")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis, moto = redis_service(tmp_path), s3_service(tmp_path)
    redis.start()
    moto.start()
    yield {
        "OVERHEARD_DATA_DIR": str(tmp_path / "data"),
        "OVERHEARD_DATABASE_URL": database_url,
        "OVERHEARD_BLOB_URL": "s3://overheard-deploy/clips",
        "OVERHEARD_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto.port}",
        "OVERHEARD_S3_ACCESS_KEY": TEST_ACCESS_KEY,
        "OVERHEARD_S3_SECRET_KEY": TEST_SECRET_KEY,
        "OVERHEARD_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "OVERHEARD_WAKE_VERIFIER": "keyword",
        "OVERHEARD_JOB_REANNOUNCE_EVERY_S": "2",
    }
    redis.stop()
    moto.stop()


def overheard(env: dict[str, str], *args: str) -> str:
    full = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"), **env}
    done = subprocess.run(
        [sys.executable, "-m", "overheard", *args], env=full, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def settle(url: str, token: str, rid: str) -> str:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    status = "received"
    while time.monotonic() < deadline:
        resp = httpx.get(f"{url}/api/v1/utterances/{rid}", headers={"Authorization": f"Bearer {token}"})
        status = resp.json().get("status", "?")
        if status not in ("received", "processing"):
            return status
        time.sleep(1)
    return status


def test_deploy_runs_web_and_workers_under_load(backends: dict[str, str], tmp_path: Path):
    port = free_port()
    ports = [port, port + 1]
    full = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"), **backends}
    procfile = overheard(backends, "deploy", "--web", "2", "--workers", "1",
                         "--base-port", str(port), "--procfile")  # fmt: skip
    assert [line.split(":")[0] for line in procfile.splitlines()] == ["web1", "web2", "worker1"]
    log = (tmp_path / "deploy.log").open("wb")
    command = [sys.executable, "-m", "overheard", "deploy", "--web", "2", "--workers", "1",
               "--base-port", str(port)]  # fmt: skip
    deploy = subprocess.Popen(command, env=full, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        for p in ports:
            wait_for_port(p, timeout_s=120)
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url in urls:
            ready = httpx.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"database", "blob_store", "broker", "key_provider"}
        tokens = [
            json.loads(overheard(backends, "households", "add", "--name", f"H{i}",
                                 "--account", f"A-{i}", "--email", f"h{i}@example.org",
                                 "--serial", f"SN-{i}", "--json"))["device_token"]
            for i in range(2)
        ]  # fmt: skip

        def push(i: int) -> tuple[str, str, str]:
            url, token = urls[i % 2], tokens[i % 2]
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"load-{i}"}
            resp = httpx.post(f"{url}/api/v1/utterances", content=tone_wav(1.0, freq_hz=300 + i),
                              headers=headers, timeout=30)  # fmt: skip
            assert resp.status_code == 201, resp.text
            return url, token, resp.json()["id"]

        with ThreadPoolExecutor(4) as pool:
            sent = list(pool.map(push, range(UPLOADS)))
        finals = [settle(url, token, rid) for url, token, rid in sent]
        assert all(s not in ("received", "processing", "failed") for s in finals), finals
        metrics = httpx.get(f"{urls[0]}/metrics", timeout=10).text
        assert sample(metrics, "overheard_uploads_total", outcome="created") == UPLOADS
        assert sample(metrics, "overheard_job_runs_total", outcome="done") >= UPLOADS
    finally:
        deploy.send_signal(signal.SIGTERM)
        try:
            deploy.wait(timeout=60)
        finally:
            if deploy.poll() is None:
                os.killpg(deploy.pid, signal.SIGKILL)
            log.close()
    for p in ports:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=2)
