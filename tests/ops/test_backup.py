"""A backup restored into an empty deployment brings back what it held, and a household deleted
after the backup was taken stays unreadable (its key share is not in the backup)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from overheard.backup import restore_backup, write_backup
from overheard.config import Settings
from overheard.errors import KeyUnavailable
from overheard.households import Device
from overheard.platform import Platform, initialise
from overheard.recordings.deletion import delete_everything
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording
from tests.conftest import cloned_postgres, tone_wav


@pytest.fixture
def empty_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A second, migrated, empty database of the same kind as the platform's."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with cloned_postgres(request.getfixturevalue("postgres_template")) as url:
        yield url


def upload(platform, enrolment) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as session:
        device = session.get(Device, enrolment.device_id)
    return ingest(platform, device, tone_wav(0.5)).recording.id


def test_restore_brings_back_kept_households_and_not_deleted_ones(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    kept, deleted = make_household(name="Ada"), make_household(name="Bo")
    kept_rid, deleted_rid = upload(platform, kept), upload(platform, deleted)
    backup_dir = tmp_path / "backup"
    counts = write_backup(platform, backup_dir)
    assert counts["recordings"] == 2 and counts["blobs"] == 2
    names = {p.name for p in backup_dir.rglob("*")}
    assert not {"kek.json", "server-secrets.json", "audit-signing.key"} & names
    assert not (backup_dir / "key-shares").exists()
    assert json.loads((backup_dir / "manifest.json").read_text())["format"] == 1

    delete_everything(platform, deleted.household_id, actor="customer")

    # A fresh deployment on the same KEK, secrets and live key-share folder, empty otherwise.
    s = platform.settings
    target = Settings(
        data_dir=tmp_path / "restored",
        database_url=empty_database_url,
        kek_url=s.kek_url,
        secrets_path=s.secrets_path,
        audit_signing_key_path=s.audit_signing_key_path,
        key_share_dir=s.key_share_dir,
    ).resolved()
    initialise(target)
    restored = Platform.open(target)
    try:
        report = restore_backup(restored, backup_dir)
        assert report.shredded_households == [deleted.household_id]
        assert report.blobs == 2
        with restored.sessions() as session:
            alive = session.get(Recording, kept_rid)
            pcm = restored.gate.open_audio(session, alive, actor="test", purpose="restore check")
            assert len(pcm) > 0
            ghost = session.get(Recording, deleted_rid)
            with pytest.raises(KeyUnavailable):
                restored.gate.open_audio(session, ghost, actor="test", purpose="restore check")
            from overheard import audit

            assert audit.verify_chain(session).ok
            actions = session.scalars(select(audit.AuditEvent.action)).all()
            assert "backup.restore_shredded" in actions
        # Sequences continue after the restored rows (PostgreSQL serial columns).
        make_household_on(restored)
    finally:
        restored.close()


def test_restore_refuses_a_database_that_is_not_empty(platform, make_household, tmp_path: Path):
    make_household()
    write_backup(platform, tmp_path / "b")
    from overheard.errors import Conflict

    with pytest.raises(Conflict, match="empty database"):
        restore_backup(platform, tmp_path / "b")


def make_household_on(platform) -> None:  # type: ignore[no-untyped-def]
    from overheard.db import transaction
    from overheard.identity.service import enrol_household

    with transaction(platform.sessions) as session:
        enrolment = enrol_household(
            session, platform.keyring, platform.secrets,
            name="Cy", account="ACC-new", email="c@example.org", serial="SN-new",
        )  # fmt: skip
    upload(platform, enrolment)


def test_restore_warns_that_clips_deleted_after_the_backup_come_back(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """A clip deleted alone after the backup (its household's key alive) comes back readable:
    nothing of that deletion survives the restore. The restore says so, with the backup's time,
    and audits it, so the operator re-applies it (the known limit, docs/operations.md)."""
    from overheard import audit
    from overheard.recordings.deletion import delete_recordings

    home = make_household()
    rid = upload(platform, home)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    taken_at = json.loads((backup_dir / "manifest.json").read_text())["taken_at"]
    delete_recordings(platform, home.household_id, [rid], actor="customer", scope={"kind": "one"})
    s = platform.settings
    target = Settings(
        data_dir=tmp_path / "restored",
        database_url=empty_database_url,
        kek_url=s.kek_url,
        secrets_path=s.secrets_path,
        audit_signing_key_path=s.audit_signing_key_path,
        key_share_dir=s.key_share_dir,
    ).resolved()
    initialise(target)
    restored = Platform.open(target)
    try:
        report = restore_backup(restored, backup_dir)
        assert report.shredded_households == [] and report.live_households == 1
        assert report.warning is not None and taken_at in report.warning
        with restored.sessions() as session:
            back = session.get(Recording, rid)  # the limit itself: the deleted clip is back
            assert back is not None
            event = session.scalars(
                select(audit.AuditEvent).where(audit.AuditEvent.action == "backup.restore")
            ).one()
        assert event.details["later_deletions_reapplied"] is False
    finally:
        restored.close()
