"""First use of external backends: `init` creates the S3 bucket and the first key version on an
empty HSM token; `serve` on a missing bucket or an empty token says what to run, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.crypto.conftest import SoftHsm, softhsm  # noqa: F401 - the token fixture
from tests.s3server import TEST_ACCESS_KEY, TEST_SECRET_KEY, moto_s3_server, s3_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint_url:
        yield endpoint_url


def run(*args: str, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"), **env}
    return subprocess.run(
        [sys.executable, "-m", "overheard", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def s3_env(endpoint: str, bucket: str, data_dir: Path) -> dict[str, str]:
    return {
        "OVERHEARD_DATA_DIR": str(data_dir),
        "OVERHEARD_BLOB_URL": f"s3://{bucket}/clips",
        "OVERHEARD_S3_ENDPOINT_URL": endpoint,
        "OVERHEARD_S3_ACCESS_KEY": TEST_ACCESS_KEY,
        "OVERHEARD_S3_SECRET_KEY": TEST_SECRET_KEY,
    }


def bucket_names(endpoint: str) -> set[str]:
    client = s3_client(endpoint)
    try:
        return {b["Name"] for b in client.list_buckets()["Buckets"]}
    finally:
        client.close()


def test_serve_on_a_missing_bucket_says_run_init(s3_endpoint: str, tmp_path: Path):
    env = s3_env(s3_endpoint, "not-there-yet", tmp_path / "data")
    done = run("serve", "--port", "0", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "S3 bucket 'not-there-yet' does not exist" in output and "overheard init" in output
    assert "Traceback" not in output


def test_init_creates_the_bucket_once(s3_endpoint: str, tmp_path: Path):
    env = s3_env(s3_endpoint, "made-by-init", tmp_path / "data")
    first = run("init", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created S3 bucket made-by-init" in first.stdout
    assert "made-by-init" in bucket_names(s3_endpoint)
    again = run("init", env=env)
    assert again.returncode == 0 and "created S3 bucket" not in again.stdout


def test_init_creates_the_first_key_version_on_an_empty_token(
    softhsm: SoftHsm,  # noqa: F811
    tmp_path: Path,
):
    env = {
        "OVERHEARD_DATA_DIR": str(tmp_path / "data"),
        "OVERHEARD_KEK_URL": softhsm.url(),
        "OVERHEARD_KEK_SECRET": softhsm.pin,
    }
    serve = run("serve", "--port", "0", env=env)
    assert serve.returncode == 2
    assert "has no version yet; run `overheard init`" in serve.stdout
    assert "Traceback" not in serve.stdout + serve.stderr
    init = run("init", env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "created key-encryption key version v1 (pkcs11)" in init.stdout
    added = run(
        "households", "add", "--name", "Ada", "--account", "A-1", "--email", "a@example.org",
        "--json", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "device_token" in added.stdout
