"""Uploads are held to what they declare: type, header, key; and to a rate per device."""

from __future__ import annotations

import struct

import pytest

from tests.conftest import tone_wav
from tests.recordings.test_hostile_uploads import long_flac
from tests.recordings.test_ingest_api import auth, counts

FMT_AT = 20
"""Offset of the ``fmt `` fields in the WAVs ``tone_wav`` writes."""


def forged_wav(*, bits: int | None = None, align: int | None = None, byte_rate: int | None = None):
    data = bytearray(tone_wav(0.5))
    assert data[12:16] == b"fmt "
    tag, ch, rate, br, al, bi = struct.unpack("<HHIIHH", data[FMT_AT : FMT_AT + 16])
    data[FMT_AT : FMT_AT + 16] = struct.pack(
        "<HHIIHH", tag, ch, rate, br if byte_rate is None else byte_rate,
        al if align is None else align, bi if bits is None else bits,
    )
    return bytes(data)


def post(client, token: str, body: bytes, **headers: str):
    return client.post("/api/v1/utterances", content=body, headers={**auth(token), **headers})


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/html", tone_wav(0.3), 415),
        ("audio/flac", tone_wav(0.3), 415),
        ("audio/wav", long_flac(1), 415),
        ("image/png", tone_wav(0.3), 415),
        ("audio/wav", tone_wav(0.3), 201),
        ("audio/x-wav; codecs=1", tone_wav(0.3), 201),
        ("audio/flac", long_flac(1), 201),
        ("application/octet-stream", tone_wav(0.3), 201),
        (None, tone_wav(0.3), 201),
    ],
)
def test_content_type_must_match_the_container(client, make_household, platform, content_type,
                                               body, status):
    hh = make_household()
    headers = {"Content-Type": content_type} if content_type else {}
    resp = post(client, hh.device_token, body, **headers)
    assert resp.status_code == status, resp.text
    if status == 415:
        assert resp.json()["error"]["code"] == "unsupported_media"
        assert counts(platform) == (0, 0)


@pytest.mark.parametrize(
    "forgery",
    [
        {"bits": 12, "align": 1},  # 12-bit samples cannot fit a one-byte frame
        {"align": 1},
        {"align": 4},
        {"byte_rate": 1},
        {"bits": 0},
        {"bits": 200, "align": 25, "byte_rate": 400_000},
    ],
)
def test_inconsistent_wav_header_is_refused(client, make_household, platform, forgery):
    hh = make_household()
    resp = post(client, hh.device_token, forged_wav(**forgery))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "malformed_audio"
    assert counts(platform) == (0, 0)


def test_consistent_header_is_accepted(client, make_household):
    hh = make_household()
    assert post(client, hh.device_token, forged_wav(bits=16, align=2, byte_rate=32000)).status_code == 201


def test_reused_idempotency_key_with_another_body_is_refused(client, make_household, platform):
    hh = make_household()
    first = post(client, hh.device_token, tone_wav(0.3), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    other = post(client, hh.device_token, tone_wav(0.3, freq_hz=660.0), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_mismatch"
    again = post(client, hh.device_token, tone_wav(0.3), **{"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert counts(platform)[0] == 1


def test_per_device_upload_rate_limit(client, make_household, platform):
    platform.settings = platform.settings.model_copy(
        update={"upload_device_max_per_window": 2, "upload_device_window_s": 60.0}
    )
    hh, other = make_household(), make_household()
    codes = [post(client, hh.device_token, tone_wav(0.2)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    limited = post(client, hh.device_token, tone_wav(0.2))
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert post(client, other.device_token, tone_wav(0.2)).status_code == 201
    assert counts(platform)[0] == 3


def test_refusals_keep_their_order_token_header_limit(client, make_household, platform):
    """A bad token is refused before a bad header, and a bad header before the upload limit."""
    platform.settings = platform.settings.model_copy(
        update={"upload_device_max_per_window": 1, "upload_device_window_s": 60.0}
    )
    hh = make_household()
    bad_time = {"X-Captured-At": "yesterday"}
    assert post(client, "not-a-token", tone_wav(0.2), **bad_time).status_code == 401
    assert post(client, hh.device_token, tone_wav(0.2)).status_code == 201
    over = post(client, hh.device_token, tone_wav(0.2), **bad_time)
    assert (over.status_code, over.json()["error"]["code"]) == (422, "bad_timestamp")
    assert post(client, hh.device_token, tone_wav(0.2)).status_code == 429
    assert counts(platform)[0] == 1
