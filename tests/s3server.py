"""A real S3 endpoint for tests: moto's standalone server, run as a subprocess on 127.0.0.1.

Typical use in a test module::

    @pytest.fixture(scope="session")
    def s3_endpoint() -> Iterator[str]:
        with moto_s3_server() as endpoint_url:
            yield endpoint_url

    @pytest.fixture
    def s3_bucket(s3_endpoint: str) -> MotoBucket:
        return create_bucket(s3_endpoint)
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TEST_REGION = "us-east-1"
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"  # moto accepts any credentials; these only satisfy boto3
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
PROBE_TIMEOUT_S = 1.0
START_ATTEMPTS = 3
"""Fresh ports to try when another process takes the chosen port before the server binds it."""


@dataclass(frozen=True)
class MotoBucket:
    """An empty bucket on a moto server, with everything a client needs to reach it."""

    endpoint_url: str
    name: str
    region: str = TEST_REGION
    access_key: str = TEST_ACCESS_KEY
    secret_key: str = TEST_SECRET_KEY

    def blob_store_options(self) -> dict[str, str]:
        """Keyword arguments for ``overheard.blobs.blob_store_from_url``."""
        return {
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
        }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(port: int) -> list[str]:
    """The venv's ``moto_server`` script, or ``python -m moto.server`` when it is missing."""
    script = Path(sys.executable).with_name("moto_server")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return [*base, "-H", HOST, "-p", str(port)]


@contextmanager
def moto_s3_server(startup_timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[str]:
    """Run a moto S3 server for the duration of the block; yields its endpoint URL."""
    with tempfile.TemporaryFile() as log:
        process, endpoint_url = _start(log, startup_timeout_s)
        try:
            yield endpoint_url
        finally:
            _stop(process)


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 S3 client for the moto server (close it when done)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=TEST_REGION,
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
    )


def create_bucket(endpoint_url: str, name: str | None = None) -> MotoBucket:
    """Create a bucket (a fresh random name unless given), so each test gets its own."""
    bucket = MotoBucket(endpoint_url, name or f"test-{secrets.token_hex(8)}")
    client = s3_client(endpoint_url)
    try:
        client.create_bucket(Bucket=bucket.name)
    finally:
        client.close()
    return bucket


def _start(log: IO[bytes], timeout_s: float) -> tuple[subprocess.Popen[bytes], str]:
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = free_port()
        process = subprocess.Popen(
            server_command(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        endpoint_url = f"http://{HOST}:{port}"
        if _wait_until_answering(endpoint_url, process, timeout_s):
            return process, endpoint_url
        _stop(process)
        log.seek(0)
        failures.append(log.read().decode(errors="replace")[-2000:])
    raise RuntimeError("moto server did not start:\n" + "\n---\n".join(failures))


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(POLL_INTERVAL_S)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
