"""Hostile uploads: each gets its 4xx and leaves row and blob counts unchanged."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth, counts


def wav_claiming_4gb() -> bytes:
    data = bytearray(tone_wav(0.5))
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def float_wav(values: list[float]) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.array(values * 800, dtype=np.float32), 16000, subtype="FLOAT", format="WAV")
    return buf.getvalue()


def long_flac(seconds: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(seconds * 8000, dtype=np.int16), 8000, format="FLAC")
    return buf.getvalue()


def zip_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("clip.wav", tone_wav())
    return buf.getvalue()


HOSTILE = [
    ("truncated header", tone_wav()[:30], 422, "malformed_audio"),
    ("claims 4 GB data chunk", wav_claiming_4gb(), 422, "malformed_audio"),
    ("zero length", b"", 422, "empty_audio"),
    ("text sent as audio", b"hello, this is not audio at all" * 10, 415, "unsupported_media"),
    ("one hour clip", long_flac(3600), 422, "clip_too_long"),
    ("96 kHz", tone_wav(0.5, 96000), 422, "unsupported_sample_rate"),
    ("8 channels", tone_wav(0.5, 16000, 8), 422, "unsupported_channels"),
    ("NaN samples", float_wav([0.1, float("nan")]), 422, "malformed_audio"),
    ("inf samples", float_wav([0.1, float("inf")]), 422, "malformed_audio"),
    ("zip archive", zip_archive(), 415, "unsupported_media"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_body_is_refused_and_nothing_stored(
    client, platform, make_household, name, body, status, code
):
    hh = make_household()
    before = counts(platform)
    resp = client.post("/api/v1/utterances", content=body, headers=auth(hh.device_token))
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), name
    assert counts(platform) == before
    ok = client.post("/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token))
    assert ok.status_code == 201, "the server keeps serving"


def test_oversize_chunked_upload_is_refused(client, platform, make_household):
    # Streaming refusal over a real socket is tested in test_live_server.py.
    hh = make_household()
    limit = platform.settings.upload_limit_bytes

    def body():
        for _ in range(limit // 65536 + 2):
            yield b"\0" * 65536

    resp = client.post("/api/v1/utterances", content=body(), headers=auth(hh.device_token))
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "upload_too_large"
    assert counts(platform) == (0, 0)


def test_declared_oversize_is_refused_up_front(client, make_household, platform):
    hh = make_household()
    too_big = str(platform.settings.upload_limit_bytes + 1)
    resp = client.post(
        "/api/v1/utterances",
        content=b"x",
        headers={**auth(hh.device_token), "Content-Length": too_big},
    )
    assert resp.status_code == 413


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer ohd_wrong"},
        {"Authorization": "Basic abc"},
        {},
        {"Authorization": ""},
    ],
)
def test_bad_credentials(client, platform, header):
    resp = client.post("/api/v1/utterances", content=tone_wav(), headers=header)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    "stamp",
    [
        "yesterday",
        "2026-11-27T10:00:00",
        "2999-01-01T00:00:00Z",
        "\x00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-14:00",
        "1969-12-31T23:59:59Z",
    ],
)
def test_bad_timestamps(client, make_household, platform, stamp):
    hh = make_household()
    resp = client.post(
        "/api/v1/utterances",
        content=tone_wav(),
        headers={**auth(hh.device_token), "X-Captured-At": stamp},
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "bad_timestamp"
    assert counts(platform) == (0, 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(min_size=0, max_size=4096))
def test_random_bytes_get_a_clean_answer(client, make_household, platform, body):
    hh = make_household()
    before = counts(platform)
    resp = client.post("/api/v1/utterances", content=body, headers=auth(hh.device_token))
    if resp.status_code in (200, 201):
        return
    assert 400 <= resp.status_code < 500
    assert set(resp.json()["error"]) == {"code", "message"}
    assert counts(platform) == before
