"""Retention sweeps and the data download."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.customer.retention import cutoff, months_before, sweep_retention
from overheard.db import transaction
from overheard.households import Household
from overheard.recordings.models import DeletionReceipt, Recording, Status
from tests.accounts.conftest import START
from tests.customer.conftest import add_recording


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ("until_deleted", None),
        ("24_hours", START - timedelta(hours=24)),
        ("3_months", START.replace(month=12, year=2025)),
        ("18_months", START.replace(month=9, year=2024)),
    ],
)
def test_cutoffs(retention, expected):
    assert cutoff(retention, START) == expected


def test_months_before_clamps_the_day():
    assert months_before(START.replace(month=5, day=31), 3).day == 28


def test_sweep_deletes_only_what_is_past_each_households_retention(platform, make_owner):
    short, kept = make_owner(), make_owner()
    with transaction(platform.sessions) as s:
        s.get(Household, short.household_id).retention = "24_hours"
    old = add_recording(platform, short.device_id, "old", at=START - timedelta(hours=30))
    new = add_recording(platform, short.device_id, "new", at=START - timedelta(hours=2))
    ancient = add_recording(platform, kept.device_id, "kept", at=START - timedelta(days=900))
    accidental = add_recording(platform, kept.device_id, "oops", at=START - timedelta(hours=3))
    with transaction(platform.sessions) as s:
        s.get(Recording, accidental.id).status = Status.ACCIDENTAL.value
    report = sweep_retention(platform, START, accidental_retention_s=3600)
    assert report.recordings_deleted == {short.household_id: 1}
    assert report.accidental_audio_purged == 1
    with platform.sessions() as s:
        assert {r.id for r in s.scalars(select(Recording))} == {new.id, ancient.id, accidental.id}
        assert s.get(Recording, accidental.id).audio_blob is None
        [receipt] = s.scalars(select(DeletionReceipt)).all()
        events = {e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == "system:retention"))}
    assert receipt.body["scope"]["kind"] == "retention" and receipt.body["recording_ids"] == [old.id]
    assert events == {"recordings.delete", "recordings.purge_audio"}
    assert not platform.blobs.exists(old.audio_blob) and not platform.blobs.exists(accidental.audio_blob)
    assert sweep_retention(platform, START).recordings_deleted == {}


def test_download_all_my_data_is_a_zip_of_audio_and_json_audited(platform, owner):
    recs = [add_recording(platform, owner.device_id, f"note {i}", seconds=0.4) for i in range(3)]
    answer = owner.client.get("/me/export")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    wavs = [n for n in archive.namelist() if n.endswith(".wav")]
    assert len(wavs) == 3 and all(archive.read(n)[:4] == b"RIFF" for n in wavs)
    data = json.loads(archive.read("data.json"))
    texts = sorted(r["texts"]["hypothesis"]["text"] for r in data["recordings"])
    assert texts == ["note 0", "note 1", "note 2"]
    with platform.sessions() as s:
        opens = s.scalars(select(AuditEvent).where(AuditEvent.reason == "owner_export")).all()
        started = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.export")).one()
    assert {e.subject for e in opens} == {r.id for r in recs} and len(opens) == 9
    assert started.actor == f"customer:{owner.account_id}"


def test_a_sweep_keeps_what_a_household_chose_to_keep_after_the_sweep_listed_it(
    platform, make_owner, monkeypatch
):
    """A sweep lists the households with a limited retention, then works through them (minutes
    with a backlog); one that chose to keep its recordings meanwhile keeps them."""
    from overheard.customer import retention, service

    owner = make_owner()
    with transaction(platform.sessions) as s:
        s.get_one(Household, owner.household_id).retention = "3_months"
    old = add_recording(platform, owner.device_id, "old", at=START - timedelta(days=200))
    sweep_one = retention._sweep_household

    def changed_first(platform, household_id, *args):  # type: ignore[no-untyped-def]
        service.set_retention(platform, household_id, "until_deleted", "customer:1", START)
        sweep_one(platform, household_id, *args)

    monkeypatch.setattr(retention, "_sweep_household", changed_first)
    assert sweep_retention(platform, START).recordings_deleted == {}
    with platform.sessions() as s:
        assert s.get(Recording, old.id) is not None
