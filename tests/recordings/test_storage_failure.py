"""An upload whose blob cannot be written (a full disk, a failing one) is answered with a clear
error the device retries, and stores nothing: no row, no file under a blob's name, and the audio
stored before stays whole."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overheard import durable
from overheard.recordings.models import Recording
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth


def _short_write_then(code: int):  # type: ignore[no-untyped-def]
    def write_all(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])  # part of it reached the disk
        raise OSError(code, os.strerror(code))

    return write_all


def _fsync_fails(fd: int) -> None:
    raise OSError(errno.EIO, os.strerror(errno.EIO))


@pytest.mark.parametrize(
    ("target", "fault", "reason"),
    [
        ("write_all", _short_write_then(errno.ENOSPC), "ENOSPC"),
        ("write_all", _short_write_then(errno.EDQUOT), "EDQUOT"),
        ("fsync", _fsync_fails, "EIO"),
    ],
    ids=["short-write-ENOSPC", "short-write-EDQUOT", "fsync-EIO"],
)
def test_an_upload_whose_blob_cannot_be_written_gets_507_and_stores_nothing(
    client, platform, make_household, monkeypatch: pytest.MonkeyPatch, target, fault, reason
):
    """Before, the OSError went unhandled: the device got a bare text/plain 500 ``Internal Server
    Error`` (no error code, no Retry-After) and the upload was counted as refused."""
    hh = make_household()
    headers = {**auth(hh.device_token), "Idempotency-Key": "utt-after-the-disk-filled"}
    first = client.post("/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token))
    assert first.status_code == 201
    root = Path(platform.blobs.root)
    files_before = sorted(p for p in root.rglob("*") if p.is_file())

    monkeypatch.setattr(durable if target == "write_all" else durable.os, target, fault)
    resp = client.post("/api/v1/utterances", content=tone_wav(0.7), headers=headers)
    monkeypatch.undo()

    assert resp.status_code == 507, resp.text
    error = resp.json()["error"]
    assert error["code"] == "storage_failed" and reason in error["message"]
    assert int(resp.headers["Retry-After"]) >= 1
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/utterances"]["post"]
    assert "`storage_failed`" in documented["responses"]["507"]["description"]
    assert sorted(p for p in root.rglob("*") if p.is_file()) == files_before  # no temporary left
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 1
        kept = session.get_one(Recording, first.json()["id"])
        assert len(platform.gate.open_audio(session, kept, actor="test", purpose="check")) == 32000

    again = client.post("/api/v1/utterances", content=tone_wav(0.7), headers=headers)
    assert again.status_code == 201  # sent again once there is room: stored once
