"""The vault on an S3-compatible blob store (moto's standalone server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from overheard.config import Settings
from overheard.platform import Platform, initialise
from overheard.recordings.deletion import delete_everything
from overheard.recordings.models import Recording
from overheard.web import create_app
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth
from tests.s3server import MotoBucket, create_bucket, moto_s3_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_platform(tmp_path: Path, s3_endpoint: str) -> Iterator[Platform]:
    bucket: MotoBucket = create_bucket(s3_endpoint)
    settings = Settings(
        data_dir=tmp_path / "data",
        blob_url=f"s3://{bucket.name}/vault",
        s3_endpoint_url=bucket.endpoint_url,
        s3_region=bucket.region,
        s3_access_key=bucket.access_key,
        s3_secret_key=bucket.secret_key,
    ).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    yield platform
    platform.close()


def test_upload_read_and_delete_on_s3(s3_platform: Platform):
    from overheard.db import transaction
    from overheard.identity.service import enrol_household

    with transaction(s3_platform.sessions) as s:
        hh = enrol_household(s, s3_platform.keyring, s3_platform.secrets, name="Bo",
                             account="A-9", email="bo@example.org", serial="SN-9")
    with TestClient(create_app(s3_platform, run_workers=False)) as client:
        resp = client.post("/api/v1/utterances", content=tone_wav(1.5), headers=auth(hh.device_token))
    assert resp.status_code == 201
    keys = [b.key for b in s3_platform.blobs.list("")]
    assert len(keys) == 1 and keys[0].startswith(f"audio/{hh.household_id}/")
    assert tone_wav(1.5)[44:200] not in s3_platform.blobs.get(keys[0])
    with s3_platform.sessions() as s:
        rec = s.get(Recording, resp.json()["id"])
        assert len(s3_platform.gate.open_audio(s, rec, actor="t", purpose="t")) == 48000
    receipt = delete_everything(s3_platform, hh.household_id, actor="test")
    assert receipt.body["household_key_destroyed"] is True
    assert list(s3_platform.blobs.list("")) == []
