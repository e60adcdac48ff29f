"""Health, readiness, metrics and structured logs, through the app."""

from __future__ import annotations

import json
import logging

from overheard.observe import JsonFormatter
from tests.conftest import tone_wav


def test_healthz_and_readyz_report_each_backend(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "blob_store": "ok", "key_provider": "ok"}


def test_readyz_names_a_missing_blob_store(client, platform):
    root = platform.blobs.root
    root.rename(root.with_name("moved"))
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"].isdigit()
    body = ready.json()
    assert body["error"]["code"] == "service_unavailable"
    assert body["checks"]["blob_store"] != "ok" and body["checks"]["database"] == "ok"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition text (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_metrics_count_uploads_latency_and_queue(client, make_household):
    hh = make_household()
    before = client.get("/metrics").text
    headers = {"Authorization": f"Bearer {hh.device_token}", "Idempotency-Key": "m-1"}
    assert client.post("/api/v1/utterances", content=tone_wav(), headers=headers).status_code == 201
    assert client.post("/api/v1/utterances", content=tone_wav(), headers=headers).status_code == 200
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    for outcome in ("created", "replayed"):
        name = "overheard_uploads_total"
        assert sample(text, name, outcome=outcome) - sample(before, name, outcome=outcome) == 1
    count = "overheard_http_request_seconds_count"
    route = {"route": "/api/v1/utterances", "method": "POST"}
    assert sample(text, count, **route) - sample(before, count, **route) == 2
    assert sample(text, "overheard_job_queue_depth", kind="process_recording") == 1
    assert sample(text, "overheard_job_lag_seconds") >= 0
    assert sample(text, "overheard_audit_checkpoint_age_seconds") == -1


def test_responses_carry_a_request_id_and_keep_a_sane_given_one(client):
    fresh = client.get("/healthz").headers["x-request-id"]
    assert len(fresh) == 32
    given = client.get("/healthz", headers={"X-Request-ID": "abc-12345678"})
    assert given.headers["x-request-id"] == "abc-12345678"
    hostile = client.get("/healthz", headers={"X-Request-ID": "x\\n{evil}"})
    assert hostile.headers["x-request-id"] != "x\\n{evil}"


def test_access_log_is_json_with_the_route_template_never_the_token(client, caplog):
    caplog.set_level(logging.INFO, logger="overheard.access")
    secret = "s3cr3t-one-time-token-value"
    client.get(f"/invite/{secret}")
    records = [r for r in caplog.records if r.name == "overheard.access"]
    assert records, "no access log line"
    lines = [JsonFormatter().format(r) for r in records]
    assert all(secret not in line for line in lines)
    last = json.loads(lines[-1])
    assert last["route"] == "/invite/{token}" and last["status"] in (200, 302, 303, 404, 410)
    assert {"request_id", "method", "duration_ms", "time", "level"} <= set(last)


def test_json_lines_carry_the_request_id_of_the_request(client, capfd):
    from overheard.observe import configure_logging

    configure_logging("json")
    try:
        client.get("/healthz", headers={"X-Request-ID": "req-00000042"})
    finally:
        logging.getLogger().handlers[:] = []
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "overheard.access"]
    assert access and access[-1]["request_id"] == "req-00000042"
