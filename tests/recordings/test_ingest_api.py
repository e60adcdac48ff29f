"""Device ingest through the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from overheard import audit
from overheard.crypto.aead import open_sealed
from overheard.customer.retention import sweep_retention
from overheard.db import transaction
from overheard.errors import DecryptionFailed
from overheard.households import Household
from overheard.jobs import Job
from overheard.keys import DataKey, KeyRing
from overheard.recordings.gate import AUDIO_KIND
from overheard.recordings.models import Recording
from tests.conftest import tone_wav


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def counts(platform) -> tuple[int, int]:
    with platform.sessions() as s:
        rows = s.scalar(select(func.count()).select_from(Recording))
    return rows, len(list(platform.blobs.list("")))


def test_upload_stores_sealed_recording_and_job(client, platform, make_household):
    hh = make_household()
    resp = client.post(
        "/api/v1/utterances",
        content=tone_wav(2.0, 44100, 2),
        headers={**auth(hh.device_token), "X-Captured-At": "2026-11-27T10:00:00+01:00"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "received"
    assert abs(body["duration_s"] - 2.0) < 0.01
    with platform.sessions() as s:
        rec = s.get(Recording, body["id"])
        assert rec.household_id == hh.household_id
        assert rec.captured_at.isoformat() == "2026-11-27T09:00:00+00:00"
        assert s.scalar(select(func.count()).select_from(Job).where(Job.subject == rec.id)) == 1
        assert audit.verify_chain(s).ok
        pcm = platform.gate.open_audio(s, rec, actor="test", purpose="check")
    assert len(pcm) == 2 * 16000 * 2


def test_idempotency_key_replays_same_id(client, platform, make_household):
    hh = make_household()
    headers = {**auth(hh.device_token), "Idempotency-Key": "utt-1"}
    first = client.post("/api/v1/utterances", content=tone_wav(), headers=headers)
    again = client.post("/api/v1/utterances", content=tone_wav(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert counts(platform) == (1, 1)


def test_same_idempotency_key_on_two_devices_is_two_recordings(client, platform, make_household):
    a, b = make_household(), make_household()
    for hh in (a, b):
        resp = client.post(
            "/api/v1/utterances",
            content=tone_wav(),
            headers={**auth(hh.device_token), "Idempotency-Key": "same"},
        )
        assert resp.status_code == 201
    assert counts(platform) == (2, 2)


def test_revoked_token_is_refused(client, platform, make_household):
    from overheard.db import transaction
    from overheard.households import revoke_device

    hh = make_household()
    with transaction(platform.sessions) as s:
        revoke_device(s, hh.device_id)
    resp = client.post("/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_token"


def test_a_device_revoked_after_it_was_looked_up_stores_nothing(platform, make_household):
    """``overheard wyoming`` looks its device up once at start and then calls ``ingest`` for every
    utterance: a device revoked meanwhile must not go on storing recordings in its household
    (before, only the HTTP route checked revocation, when it read the token)."""
    from overheard.errors import Unauthorized
    from overheard.households import Device, revoke_device
    from overheard.recordings.ingest import ingest

    hh = make_household()
    with platform.sessions() as s:
        device = s.get_one(Device, hh.device_id)  # as the service holds it from its start
    assert ingest(platform, device, tone_wav()).created
    with transaction(platform.sessions) as s:
        revoke_device(s, hh.device_id)
    with pytest.raises(Unauthorized):
        ingest(platform, device, tone_wav())
    assert counts(platform) == (1, 1)


def test_status_is_scoped_to_the_household(client, make_household):
    a, b = make_household(), make_household()
    rid = client.post(
        "/api/v1/utterances", content=tone_wav(), headers=auth(a.device_token)
    ).json()["id"]
    assert client.get(f"/api/v1/utterances/{rid}", headers=auth(a.device_token)).status_code == 200
    other = client.get(f"/api/v1/utterances/{rid}", headers=auth(b.device_token))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "recording_not_found"


def test_openapi_documents_every_upload_error(client):
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/api/v1/utterances"]["post"]["responses"]
    assert {"201", "200", "401", "413", "415", "422"} <= set(responses)
    assert "audio/wav" in spec["paths"]["/api/v1/utterances"]["post"]["requestBody"]["content"]


def test_replay_of_a_deleted_utterance_is_refused(client, platform, make_household):
    from overheard.recordings.deletion import delete_recordings

    hh = make_household()
    headers = {**auth(hh.device_token), "Idempotency-Key": "utt-9"}
    rid = client.post("/api/v1/utterances", content=tone_wav(), headers=headers).json()["id"]
    delete_recordings(platform, hh.household_id, [rid], actor="test", scope={"kind": "one"})
    again = client.post("/api/v1/utterances", content=tone_wav(), headers=headers)
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "deleted"
    assert counts(platform) == (0, 0)


def test_upload_limit_reads_the_device_index_in_order(platform):
    """The per-device limit is read off (device_id, received_at), newest first: no scan and sort
    of every recording the device ever made (it ran on every upload)."""
    from datetime import UTC, datetime

    from overheard.recordings.ingest import nth_newest_upload

    query = nth_newest_upload("dev-1", datetime(2026, 1, 1, tzinfo=UTC), 120)
    with platform.readers() as s:
        if s.get_bind().dialect.name == "sqlite":
            compiled = query.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan = " ".join(row[-1] for row in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "ix_recordings_device_received" in plan and "TEMP B-TREE" not in plan, plan
        else:
            s.execute(text("SET LOCAL enable_seqscan = off"))
            compiled = query.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan = " ".join(row[0] for row in s.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_recordings_device_received" in plan and "Sort" not in plan, plan


def test_admission_reads_device_key_limit_and_replay_in_one_statement(
    client, platform, make_household
):
    """Before the body arrives, an upload costs one SELECT (device, its household's key row, the
    upload that decides the limit, the replay or tombstone of its key); a replay one more."""
    from datetime import UTC, datetime

    from sqlalchemy import event

    from overheard.recordings.ingest import admit

    hh = make_household()
    headers = {**auth(hh.device_token), "Idempotency-Key": "utt-7"}
    stored = client.post("/api/v1/utterances", content=tone_wav(), headers=headers).json()["id"]
    engine, selects = platform.readers.kw["bind"], []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        fresh = admit(platform, hh.device_token, datetime.now(UTC), "utt-8")
        assert (len(selects), fresh.replay) == (1, None)
        assert fresh.device.id == hh.device_id and fresh.key is not None
        replay = admit(platform, hh.device_token, datetime.now(UTC), "utt-7")
        assert len(selects) == 3 and replay.replay is not None and replay.replay.id == stored
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _stored_capture(client, platform, token: str, stamp: str) -> tuple[str, datetime, datetime]:
    before = datetime.now(UTC)
    resp = client.post(
        "/api/v1/utterances", content=tone_wav(), headers={**auth(token), "X-Captured-At": stamp}
    )
    assert resp.status_code == 201, resp.text
    with platform.sessions() as s:
        rec = s.get(Recording, resp.json()["id"])
        return rec.id, rec.captured_at, before


@pytest.mark.parametrize("ahead", [timedelta(hours=20), timedelta(seconds=90)])
def test_a_device_clock_ahead_cannot_stretch_the_households_retention(
    client, platform, make_household, ahead
):
    """A clip is not captured after it arrived: a day-ahead clock would keep it past 24 hours."""
    hh = make_household()
    with transaction(platform.sessions) as s:
        s.get(Household, hh.household_id).retention = "24_hours"
    stamp = (datetime.now(UTC) + ahead).isoformat()
    rid, captured, before = _stored_capture(client, platform, hh.device_token, stamp)
    assert before <= captured <= datetime.now(UTC)  # the time of receipt
    sweep_retention(platform, datetime.now(UTC) + timedelta(hours=24, minutes=1))
    with platform.sessions() as s:
        assert s.get(Recording, rid) is None  # gone after the household's 24 hours


def test_a_device_clock_that_was_never_set_does_not_get_its_clip_swept_at_once(
    client, platform, make_household
):
    """A clock counting from 1970 since power-on: the clip is not years old, it is kept."""
    hh = make_household()
    with transaction(platform.sessions) as s:
        s.get(Household, hh.household_id).retention = "3_months"
    rid, captured, before = _stored_capture(
        client, platform, hh.device_token, "1970-01-01T00:00:42Z"
    )
    assert before <= captured <= datetime.now(UTC)
    sweep_retention(platform, datetime.now(UTC))
    with platform.sessions() as s:
        assert s.get(Recording, rid) is not None


def test_a_clip_captured_before_delete_everything_is_not_stored_after_it(
    client, platform, make_household
):
    """A device that was offline uploads its backlog once it is back: a clip it captured before
    the household deleted everything must not be stored after the deletion (readable, sampled for
    review, in the household's list as if nothing had been deleted). One captured after it is."""
    from overheard.customer.service import delete_all

    hh = make_household()
    said = datetime.now(UTC) - timedelta(minutes=5)
    _stored_capture(client, platform, hh.device_token, said.isoformat())
    delete_all(platform, hh.household_id, "customer", datetime.now(UTC))
    late = client.post(
        "/api/v1/utterances",
        content=tone_wav(),
        headers={
            **auth(hh.device_token),
            "X-Captured-At": (said + timedelta(minutes=1)).isoformat(),
        },
    )
    assert late.status_code == 410, late.text
    assert late.json()["error"]["code"] == "deleted"
    assert counts(platform) == (0, 0)
    after = datetime.now(UTC).isoformat()
    _stored_capture(client, platform, hh.device_token, after)
    assert counts(platform) == (1, 1)


@pytest.mark.parametrize("how", ["destroy", "replace"])
def test_an_upload_after_another_process_changed_the_key_is_not_sealed_under_the_old_one(
    client, platform, make_household, how
):
    """This process unwrapped (and caches) the household's key at the first upload; another
    process then destroys it, or replaces it ("delete everything"). The next upload must not be
    sealed under the cached key: refused once destroyed, sealed under the new key once replaced."""
    hh = make_household()
    first = client.post("/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token))
    assert first.status_code == 201 and platform.keyring.cached() == 1
    old = platform.keyring.data_key_of(_key_row(platform, hh.household_id), hh.household_id)
    elsewhere = KeyRing(platform.keyring.kek, platform.keyring.shares)
    with transaction(platform.sessions) as s:
        getattr(elsewhere, how)(s, hh.household_id)
    before = counts(platform)
    resp = client.post("/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token))
    if how == "destroy":
        assert resp.status_code == 410 and resp.json()["error"]["code"] == "key_destroyed"
        assert counts(platform) == before
        return
    assert resp.status_code == 201
    with platform.sessions() as s:
        rec = s.get(Recording, resp.json()["id"])
        sealed = platform.blobs.get(rec.audio_blob)
        new = elsewhere.data_key(s, hh.household_id)
    assert new != old
    assert open_sealed(new, sealed, record_id=rec.id, kind=AUDIO_KIND)
    with pytest.raises(DecryptionFailed):
        open_sealed(old, sealed, record_id=rec.id, kind=AUDIO_KIND)


def _key_row(platform, household_id):
    with platform.sessions() as s:
        return s.get(DataKey, household_id)
