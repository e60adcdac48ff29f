"""The OpenAPI document says what the routes answer: codes, the review API's 409, 405 with Allow."""

from __future__ import annotations

import pytest

from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth


def test_review_api_documents_conflicts(client):
    spec = client.get("/openapi.json").json()
    for path in ("/review/api/submit", "/review/api/skip", "/review/api/heartbeat"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"200", "401", "403", "409", "422"} <= set(responses), path
        assert "lease_expired" in responses["409"]["description"]


def test_upload_codes_are_the_documented_ones(client, make_household):
    spec = client.get("/openapi.json").json()
    documented = spec["paths"]["/api/v1/utterances"]["post"]["responses"]
    assert {"408", "415", "422", "429"} <= set(documented)
    hh = make_household()
    cases = [
        ({"X-Captured-At": "yesterday"}, "bad_timestamp"),
        ({"Idempotency-Key": "x" * 200}, "bad_idempotency_key"),
    ]
    for headers, code in cases:
        resp = client.post("/api/v1/utterances", content=tone_wav(0.2),
                           headers={**auth(hh.device_token), **headers})
        assert (resp.status_code, resp.json()["error"]["code"]) == (422, code)
        assert f"`{code}`" in documented["422"]["description"]


def test_device_routes_document_the_headers_they_read(client):
    # The upload and the device requirement read their headers off the request, not as declared
    # parameters: the description must still list every header a device sends, once each.
    paths = client.get("/openapi.json").json()["paths"]
    upload = paths["/api/v1/utterances"]["post"]["parameters"]
    assert [(p["in"], p["name"]) for p in upload] == [
        ("header", "authorization"), ("header", "x-captured-at"), ("header", "idempotency-key"),
    ]
    status = paths["/api/v1/utterances/{recording_id}"]["get"]["parameters"]
    assert sorted((p["in"], p["name"]) for p in status) == [
        ("header", "authorization"), ("path", "recording_id"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/api/v1/utterances", {"POST"}), ("DELETE", "/healthz", {"GET"}),
     ("PUT", "/me/export", {"GET"})],
)
def test_method_not_allowed_names_the_allowed_methods(client, method, path, allowed):
    resp = client.request(method, path)
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= allowed
    assert resp.json()["error"]["code"] == "method_not_allowed"
