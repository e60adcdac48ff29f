"""A backup restored into an empty deployment brings back what it held, and a household deleted
after the backup was taken stays unreadable (its key share is not in the backup)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
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
from overheard.recordings.models import Recording, Status
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

    restored = restored_platform(platform, tmp_path, empty_database_url)
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


def restored_platform(platform, tmp_path: Path, empty_database_url: str) -> Platform:  # type: ignore[no-untyped-def]
    """A fresh deployment on the same KEK, secrets and live key-share folder, empty otherwise."""
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
    return Platform.open(target)


def test_restore_deletes_again_the_clips_deleted_after_the_backup(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """A clip deleted alone after the backup (its household's key alive) would come back readable:
    its receipt is a row of the replaced database. The deletion journal, next to the key shares and
    outside the backup, names it, and the restore deletes it again through the deletion path: the
    row and its blob are gone, a receipt and an audit event say why. A clip kept stays."""
    from overheard import audit
    from overheard.recordings import journal
    from overheard.recordings.deletion import delete_recordings
    from overheard.recordings.models import DeletionReceipt, Tombstone

    home = make_household(name="Ada")
    rid, kept = upload(platform, home), upload(platform, home)
    with platform.sessions() as session:
        blob = session.get_one(Recording, rid).audio_blob
    assert blob
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    assert not list(backup_dir.rglob(journal.FILE_NAME))
    taken_at = json.loads((backup_dir / "manifest.json").read_text())["taken_at"]
    delete_recordings(platform, home.household_id, [rid], actor="customer", scope={"kind": "one"})

    path = journal.journal_path(platform)
    assert path is not None and path.parent == Path(platform.settings.key_share_dir)
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().splitlines()
    assert [line.split("\t")[1:] for line in lines] == [[home.household_id, rid]]
    assert "Ada" not in path.read_text()

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        report = restore_backup(restored, backup_dir)
        assert report.shredded_households == [] and report.live_households == 1
        assert report.reapplied == 1
        assert report.warning is not None and taken_at in report.warning
        assert not restored.blobs.exists(blob)
        with restored.sessions() as session:
            assert session.get(Recording, rid) is None
            assert session.get(Recording, kept) is not None
            tomb = session.get_one(Tombstone, rid)
            receipt = session.get_one(DeletionReceipt, tomb.receipt_id)
            assert receipt.actor == "cli" and receipt.completed_at is not None
            again = session.scalars(
                select(audit.AuditEvent).where(
                    audit.AuditEvent.action == "recordings.delete",
                    audit.AuditEvent.subject == receipt.id,
                )
            ).one()
            assert again.reason == "restore_reapply"
            event = session.scalars(
                select(audit.AuditEvent).where(audit.AuditEvent.action == "backup.restore")
            ).one()
            assert audit.verify_chain(session).ok
        assert event.details["later_deletions_reapplied"] is True
        assert event.details["reapplied_recordings"] == 1
        # The re-application is not journalled twice.
        assert path.read_text().splitlines() == lines
    finally:
        restored.close()


def test_a_deletion_that_rolled_back_is_taken_back_in_the_journal(platform, make_household):
    """Journalled before the commit, so a deletion that rolls back takes its line back (``void``):
    a live line for it would delete, on the next restore, a clip that should live on."""
    from overheard.recordings import deletion, journal

    def failing(session, ids):  # type: ignore[no-untyped-def]
        raise RuntimeError("a hook failed mid-deletion")

    home = make_household()
    rid = upload(platform, home)
    deletion.DELETION_HOOKS.append(failing)
    try:
        with pytest.raises(RuntimeError, match="mid-deletion"):
            deletion.delete_recordings(
                platform, home.household_id, [rid], actor="customer", scope={"kind": "one"}
            )
    finally:
        deletion.DELETION_HOOKS.remove(failing)
    with platform.sessions() as session:
        assert session.get(Recording, rid) is not None
    path = journal.journal_path(platform)
    assert path is not None
    assert [line.split("\t")[2:] for line in path.read_text().splitlines()] == [[rid], [rid, "void"]]
    assert journal.read(platform) == {}
    deletion.delete_recordings(  # asked again, it goes through: a later line counts again
        platform, home.household_id, [rid], actor="customer", scope={"kind": "one"}
    )
    assert journal.read(platform) == {home.household_id: {rid}}


DELETE_CHILD = """
import json, sys
from overheard.config import Settings
from overheard.platform import Platform
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import DeletionReceipt
from tests._crash import kill_after_commit

settings, household_id, recording_id = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
platform = Platform.open(Settings(**settings).resolved())
kill_after_commit(platform.sessions, lambda session: any(
    isinstance(o, DeletionReceipt) for o in session.new
))
delete_recordings(platform, household_id, [recording_id], actor="customer", scope={"kind": "one"})
sys.exit(3)  # never reached: killed at the point
"""


def test_a_deletion_killed_just_after_its_commit_is_journalled_and_redone_by_a_restore(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """A clip deleted alone by a process killed (SIGKILL) as the deletion's commit returned: the
    journal line used to be written after the commit, so there was none and a restore of an older
    backup brought the clip back readable. Now the line is on disk before the commit."""
    from overheard.recordings import journal
    from tests._crash import killed_child

    home = make_household(name="Ada")
    rid, kept = upload(platform, home), upload(platform, home)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    killed_child(DELETE_CHILD, _settings_json(platform), home.household_id, rid)
    with platform.sessions() as session:
        assert session.get(Recording, rid) is None  # committed, then killed
    assert journal.read(platform) == {home.household_id: {rid}}

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        _deletes_again(restored, backup_dir, rid, kept)
    finally:
        restored.close()


def _settings_json(platform) -> str:  # type: ignore[no-untyped-def]
    """What a child needs to open the same deployment as ``platform``, as JSON."""
    s = platform.settings
    keys = ("data_dir", "database_url", "kek_url", "secrets_path", "audit_signing_key_path",
            "key_share_dir")  # fmt: skip
    return json.dumps({k: str(getattr(s, k)) for k in keys})


def _deletes_again(restored, backup_dir: Path, rid: str, kept: str) -> None:  # type: ignore[no-untyped-def]
    """The restore deletes the journalled ``rid`` again and keeps ``kept``."""
    report = restore_backup(restored, backup_dir)
    assert report.reapplied == 1
    with restored.sessions() as session:
        assert session.get(Recording, rid) is None
        assert session.get(Recording, kept) is not None


def test_a_restore_that_fails_copying_blobs_can_be_run_again_and_deletes_again(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """A backup folder that went through a file browser holds a stray ``.DS_Store``, which is no
    blob key: the restore fails copying blobs. Before, the rows had committed by then, so the clip
    deleted after the backup was back with its sealed transcript under a live key, the journal not
    re-applied, and a second restore was refused (the database was not empty). Now nothing is
    written to the database until the blobs are in, and the restore run again finishes."""
    from overheard.recordings.deletion import delete_recordings

    home = make_household(name="Ada")
    rid, kept = upload(platform, home), upload(platform, home)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    delete_recordings(platform, home.household_id, [rid], actor="customer", scope={"kind": "one"})
    stray = backup_dir / "blobs" / ".DS_Store"
    stray.write_bytes(b"\0\0\0\1Bud1")

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        with pytest.raises(ValueError, match="invalid blob key"):
            restore_backup(restored, backup_dir)
        with restored.sessions() as session:
            assert session.get(Recording, rid) is None
        stray.unlink()
        _deletes_again(restored, backup_dir, rid, kept)
    finally:
        restored.close()


def _trim(platform, recording_id: str) -> str:  # type: ignore[no-untyped-def]
    """What the pipeline does to a clip once it has found the wake word: only the request is kept
    (a new blob on the row), and the received audio is purged after the commit."""
    import numpy as np

    from overheard import purges
    from overheard.db import transaction
    from overheard.speech.pipeline import Outcome, _keep_request_only

    with transaction(platform.sessions) as session:
        rec = session.get_one(Recording, recording_id, with_for_update=True)
        pcm = np.frombuffer(
            platform.gate.open_audio(session, rec, actor="test", purpose="trim"), dtype=np.int16
        )
        outcome = Outcome(Status.TRANSCRIBED, None, 0.3, kept_from_s=0.1)
        kept = _keep_request_only(platform, session, rec, pcm, outcome, rec.received_at)
    purges.run(platform)
    return kept


def test_a_clip_trimmed_while_the_backup_is_taken_keeps_the_audio_its_row_names(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """The rows are read in one snapshot and the blobs copied after it: a clip the pipeline trimmed
    in between (new blob on the row, received blob purged) had a row in the backup naming a blob
    that was not copied, so the restored clip had no audio. A backup now holds the blobs its
    rows name, as they stood when the rows were read, and no other."""
    from sqlalchemy import event

    hh = make_household()
    rid = upload(platform, hh)
    with platform.sessions() as session:
        received = session.get_one(Recording, rid).audio_blob
    trimmed: list[str] = []
    me, started = threading.get_ident(), []

    def trim_once_recordings_are_read(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if threading.get_ident() == me and not started and "FROM recordings" in statement:
            started.append(True)
            racer = threading.Thread(target=lambda: trimmed.append(_trim(platform, rid)))
            racer.start()
            racer.join(30)

    engine = platform.reader_engine
    event.listen(engine, "after_cursor_execute", trim_once_recordings_are_read)
    try:
        write_backup(platform, backup_dir := tmp_path / "backup")
    finally:
        event.remove(engine, "after_cursor_execute", trim_once_recordings_are_read)
    assert trimmed and not platform.blobs.exists(received)
    blobs = backup_dir / "blobs"
    stored = {p.relative_to(blobs).as_posix() for p in blobs.rglob("*") if p.is_file()}
    assert stored == {received}

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        restore_backup(restored, backup_dir)
        with restored.sessions() as session:
            rec = session.get_one(Recording, rid)
            assert rec.audio_blob == received
            pcm = restored.gate.open_audio(session, rec, actor="test", purpose="restore check")
            assert len(pcm) == 16000  # half a second at 16 kHz, 16-bit: the received clip
    finally:
        restored.close()


def _share_of(platform, household_id: str) -> str:  # type: ignore[no-untyped-def]
    from overheard.keys import DataKey

    with platform.sessions() as session:
        share = session.get_one(DataKey, household_id).share_id
    assert share is not None
    return share


@pytest.mark.parametrize("point", ["erasing", "before_commit"], ids=["after", "before"])
def test_a_backup_restored_after_a_deletion_killed_around_its_commit_stays_shut(
    platform, make_household, tmp_path: Path, empty_database_url: str, point: str
):
    """A "delete everything" killed (SIGKILL, a child process) after its commit, as it was about to
    erase the old key share: before any sweep ran, the share was still on disk. Restoring a backup
    taken before the deletion brought the household back with its old key row, the share opened
    it, and the audio deleted was readable again. Now the share of a newer generation the folder
    holds tells the restore a replacement began after the backup: the household stays shut and
    its old share is erased. Killed before its commit, only the lost database knew the deletion
    had not happened: the household, whose owner asked for it, is shut too."""
    from tests.customer.test_deletion_crash import _killed_deletion

    kept, victim = make_household(name="Ada"), make_household(name="Bo")
    kept_rid, rid = upload(platform, kept), upload(platform, victim)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    old_share = _share_of(platform, victim.household_id)

    _killed_deletion(platform, victim.household_id, point)

    shares = platform.keyring.shares
    assert shares is not None and shares.exists(old_share)  # no sweep has run
    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        report = restore_backup(restored, backup_dir)
        assert report.shredded_households == [victim.household_id]
        assert report.live_households == 1
        assert not shares.exists(old_share)
        with restored.sessions() as session:
            ghost = session.get_one(Recording, rid)
            with pytest.raises(KeyUnavailable):
                restored.gate.open_audio(session, ghost, actor="test", purpose="restore check")
            alive = session.get_one(Recording, kept_rid)
            assert restored.gate.open_audio(session, alive, actor="test", purpose="restore check")
            from overheard import audit

            shut = session.scalars(
                select(audit.AuditEvent).where(audit.AuditEvent.action == "backup.restore_shredded")
            ).one()
            assert shut.household_id == victim.household_id
            assert shut.details["reason"] == "replaced_after_backup"
            assert audit.verify_chain(session).ok
    finally:
        restored.close()


def test_a_deletion_killed_before_its_commit_and_swept_since_does_not_shut_a_restore(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """A "delete everything" killed before its commit left its new share, written first, beside the
    live one; the sweep kept it (a replacement in flight has one), so every later restore took it
    for a deletion after its backup and shut the household, though nothing was deleted. A sweep
    of the live database now erases it (no replacement holds the key row), and a restore after
    that brings the household back readable."""
    from overheard.tasks import startup_sweep
    from tests.customer.test_deletion_crash import _killed_deletion

    home = make_household(name="Ada")
    rid = upload(platform, home)
    share = _share_of(platform, home.household_id)
    _killed_deletion(platform, home.household_id, "before_commit")
    startup_sweep(platform)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        report = restore_backup(restored, backup_dir)
        assert report.shredded_households == [] and report.live_households == 1
        assert restored.keyring.shares is not None and restored.keyring.shares.exists(share)
        with restored.sessions() as session:
            alive = session.get_one(Recording, rid)
            assert restored.gate.open_audio(session, alive, actor="test", purpose="restore check")
    finally:
        restored.close()


RESTORE_CHILD = """
import json, sys
from datetime import datetime, timedelta
from pathlib import Path
from overheard import audit
from overheard.backup import restore_backup
from overheard.config import Settings
from overheard.platform import Platform
from tests._crash import kill_after_commit

settings, backup_dir, action = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
platform = Platform.open(Settings(**settings).resolved())
kill_after_commit(platform.sessions, lambda session: any(
    isinstance(o, audit.AuditEvent) and o.action == action for o in session.new
))
restore_backup(platform, Path(backup_dir))
sys.exit(3)  # never reached: killed at the point
"""


@pytest.mark.parametrize("point", ["backup.restore_started", "backup.restore_shredded"],
                         ids=["rows", "shut"])  # fmt: skip
def test_a_restore_killed_after_its_rows_commit_is_finished_by_the_next_start(
    platform, make_household, tmp_path: Path, empty_database_url: str, point: str
):
    """A restore killed (SIGKILL) once its rows had committed, before the deletion journal was
    re-applied: a clip deleted after the backup was back and readable, and a second restore
    refused the non-empty database. Now the rows commit with ``backup.restore_started``; the next
    start (``finish_restore``, which ``serve`` and ``worker`` run) or a second ``restore`` takes the
    remaining steps, and says it resumed."""
    from overheard.backup import finish_restore
    from overheard.recordings.deletion import delete_recordings
    from tests._crash import killed_child

    home, gone = make_household(name="Ada"), make_household(name="Bo")
    rid, kept, gone_rid = upload(platform, home), upload(platform, home), upload(platform, gone)
    backup_dir = tmp_path / "backup"
    write_backup(platform, backup_dir)
    delete_recordings(platform, home.household_id, [rid], actor="customer", scope={"kind": "one"})
    delete_everything(platform, gone.household_id, actor="customer")
    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        killed_child(RESTORE_CHILD, _settings_json(restored), str(backup_dir), point)
        with restored.sessions() as session:  # killed: the deleted clip is back and readable
            back = session.get_one(Recording, rid)
            assert restored.gate.open_audio(session, back, actor="test", purpose="restore check")

        # As the next `serve` would, or the same `restore` run again.
        again = point == "backup.restore_shredded"
        report = restore_backup(restored, backup_dir) if again else finish_restore(restored)

        assert report is not None and report.resumed and report.reapplied == 1
        assert report.shredded_households == [gone.household_id]
        assert report.rows > 0 and report.taken_at is not None
        with restored.sessions() as session:
            assert session.get(Recording, rid) is None
            assert session.get(Recording, kept) is not None
            from overheard import audit

            actions = list(session.scalars(select(audit.AuditEvent.action)))
            assert actions.count("backup.restore_started") == 1
            assert actions.count("backup.restore") == 1
            assert actions.count("backup.restore_shredded") == 1
            assert audit.verify_chain(session).ok
            with pytest.raises(KeyUnavailable):
                ghost = session.get_one(Recording, gone_rid)
                restored.gate.open_audio(session, ghost, actor="test", purpose="restore check")
        assert finish_restore(restored) is None  # finished: nothing to do the next time
        with pytest.raises(Exception, match="empty database"):
            restore_backup(restored, backup_dir)
    finally:
        restored.close()


def restore_target(platform, tmp_path: Path, database_url: str, **changed: str) -> Platform:  # type: ignore[no-untyped-def]
    """Like :func:`restored_platform`, with some settings ``changed`` (``kek_url`` or
    ``key_share_dir`` "" for a new deployment's own)."""
    s = platform.settings
    values = {"kek_url": s.kek_url, "key_share_dir": s.key_share_dir, **changed}
    target = Settings(
        data_dir=tmp_path / "restored",
        database_url=database_url,
        secrets_path=s.secrets_path,
        audit_signing_key_path=s.audit_signing_key_path,
        **values,
    ).resolved()
    initialise(target)
    return Platform.open(target)


@pytest.mark.parametrize(
    ("changed", "refusal"),
    [
        ({"kek_url": ""}, "key-encryption key"),  # the new deployment's own KEK
        ({"key_share_dir": ""}, "key share"),  # its own, empty key-share folder
    ],
)
def test_a_restore_under_the_wrong_kek_or_share_folder_is_refused_and_shuts_nothing(
    platform, make_household, tmp_path: Path, empty_database_url: str, changed, refusal
):
    from overheard.errors import Conflict
    from overheard.keys import DataKey

    hh = make_household()
    rid = upload(platform, hh)
    write_backup(platform, tmp_path / "backup")
    wrong = restore_target(platform, tmp_path, empty_database_url, **changed)
    try:
        with pytest.raises(Conflict, match=refusal):
            restore_backup(wrong, tmp_path / "backup")
        with wrong.sessions() as session:
            assert session.scalars(select(DataKey)).all() == []
        assert list(wrong.blobs.list("")) == []
    finally:
        wrong.close()
    right = restore_target(platform, tmp_path, empty_database_url)  # the same, empty database
    try:
        assert restore_backup(right, tmp_path / "backup").shredded_households == []
        with right.sessions() as session:
            assert right.gate.open_audio(session, session.get_one(Recording, rid),
                                         actor="test", purpose="restore check")  # fmt: skip
    finally:
        right.close()


def _sweep_audio(platform: Platform, grace_s: float, now: datetime) -> int:
    from overheard.recordings.sweep import sweep_orphan_blobs

    return sweep_orphan_blobs(platform, grace_s=grace_s, now=now)


def _sweep_disguised(platform: Platform, grace_s: float, now: datetime) -> int:
    from overheard.protect._cache import sweep_orphans

    return sweep_orphans(platform.sessions, platform.blobs, grace_s=grace_s, now=now)


@pytest.mark.parametrize("sweep", [_sweep_audio, _sweep_disguised], ids=["audio", "disguised"])
def test_a_sweep_while_a_restore_copies_its_blobs_in_leaves_them_to_its_rows(
    platform, make_household, tmp_path: Path, empty_database_url: str, monkeypatch, sweep
):
    """A restore copies the blobs in before the rows that name them commit, and a large one takes
    longer than the orphan grace. Before, a sweep of another process meanwhile (a ``serve``
    starting, ``overheard sweep``) that read the database before those rows committed found the
    blobs old enough and named by no row, and deleted restored audio (or a disguised copy) for
    good, though the restore reported success. Now a database without any household key (empty,
    being restored into) has no orphans: the sweep leaves every blob alone."""
    import numpy as np

    from overheard import backup
    from overheard.db import transaction, utcnow
    from overheard.protect import _cache

    rid = upload(platform, make_household())
    with transaction(platform.sessions) as session:
        rec = session.get_one(Recording, rid, with_for_update=True)
        pcm = np.zeros(16000, dtype=np.int16).tobytes()
        disguised = _cache.store(session, platform.gate, rec, pcm, method_version=1)
    write_backup(platform, backup_dir := tmp_path / "backup")
    restored = restored_platform(platform, tmp_path, empty_database_url)
    grace = restored.settings.orphan_blob_grace_s
    later = utcnow() + timedelta(seconds=grace + 60)  # the restore has taken longer than the grace
    deleting, rows_in, swept = threading.Event(), threading.Event(), []
    delete = restored.blobs.delete

    def delete_once_rows_are_in(key: str) -> None:  # the sweep read the database before
        deleting.set()
        rows_in.wait(30)
        delete(key)

    monkeypatch.setattr(restored.blobs, "delete", delete_once_rows_are_in)
    sweeper = threading.Thread(target=lambda: swept.append(sweep(restored, grace, later)))
    copy_in = backup._copy_blobs_in

    def copy_in_then_sweep(target: Platform, folder: Path) -> int:
        copied = copy_in(target, folder)
        sweeper.start()
        while sweeper.is_alive() and not deleting.wait(0.05):
            pass
        return copied

    monkeypatch.setattr(backup, "_copy_blobs_in", copy_in_then_sweep)
    try:
        assert restore_backup(restored, backup_dir).blobs == 2
        rows_in.set()
        sweeper.join(30)
        with restored.sessions() as session:
            rec = session.get_one(Recording, rid)
            assert restored.gate.open_audio(session, rec, actor="test", purpose="restore check")
        assert restored.blobs.exists(disguised)
        assert swept == [0]
    finally:
        rows_in.set()
        restored.close()


def _drop_a_blob(backup_dir: Path) -> None:
    next(p for p in (backup_dir / "blobs").rglob("*") if p.is_file()).unlink()


def _drop_the_recordings(backup_dir: Path) -> None:
    (backup_dir / "tables" / "recordings.jsonl").unlink()


@pytest.mark.parametrize("cut", [_drop_a_blob, _drop_the_recordings], ids=["blob", "table"])
def test_a_backup_copied_short_of_what_its_manifest_counts_is_refused_and_writes_nothing(
    platform, make_household, tmp_path: Path, empty_database_url: str, cut
):
    """A backup folder copied elsewhere in part (a transfer cut short) still has its manifest.
    Before, its restore succeeded without the missing rows or blobs and said only how many it
    brought back: recordings whose audio was gone for good, or blobs no row named (swept later).
    Now the restore compares the folder with the manifest's counts first and refuses, writing
    nothing."""
    from overheard.errors import Conflict
    from overheard.households import Household

    upload(platform, make_household())
    write_backup(platform, backup_dir := tmp_path / "backup")
    cut(backup_dir)
    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        with pytest.raises(Conflict, match="incomplete"):
            restore_backup(restored, backup_dir)
        with restored.sessions() as session:
            assert session.scalars(select(Household)).all() == []
        assert list(restored.blobs.list("")) == []
    finally:
        restored.close()


@contextmanager
def _uploaded_and_trimmed_around_the_snapshot(platform, hh, monkeypatch, times: int = 1):  # type: ignore[no-untyped-def]
    """While the block runs a backup, ``times`` times: once a listing of the blobs has been read to
    its end (so before the rows' snapshot) a clip is uploaded and committed; once a snapshot then
    reads the recordings, the pipeline trims it (a new blob on the row, the received one purged).
    Yields [[recording id, received blob, trimmed blob], ...]."""
    from sqlalchemy import event

    me, raced = threading.get_ident(), []
    listing = platform.blobs.list

    def in_thread(work) -> None:  # type: ignore[no-untyped-def]
        racer = threading.Thread(target=work)
        racer.start()
        racer.join(30)

    def upload_late() -> None:
        rid = upload(platform, hh)
        with platform.sessions() as session:
            raced.append([rid, session.get_one(Recording, rid).audio_blob])

    def list_then_upload(prefix: str = ""):  # type: ignore[no-untyped-def]
        yield from listing(prefix)
        if len(raced) < times:
            in_thread(upload_late)

    def trim(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        inside = "FROM recordings" in statement  # a read of the snapshot
        if inside and threading.get_ident() == me and raced and len(raced[-1]) == 2:
            in_thread(lambda: raced[-1].append(_trim(platform, raced[-1][0])))

    monkeypatch.setattr(platform.blobs, "list", list_then_upload)
    engine = platform.reader_engine
    event.listen(engine, "before_cursor_execute", trim)
    try:
        yield raced
    finally:
        event.remove(engine, "before_cursor_execute", trim)


def test_a_clip_uploaded_during_the_first_copy_and_trimmed_after_the_snapshot_keeps_its_audio(
    platform,
    make_household,
    tmp_path: Path,
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
):
    """An upload that lands after the first copy listed the blobs and commits before the rows are
    read, then is trimmed by the pipeline (received blob purged) while they are read: the snapshot
    names the received blob, which the second copy no longer finds. The backup then held a row
    naming audio it lacked, counted itself complete, and the restored clip had none. The rows are
    now read again until every blob they name was copied."""
    hh = make_household()
    upload(platform, hh)  # a clip already stored: the first copy has something to copy
    with _uploaded_and_trimmed_around_the_snapshot(platform, hh, monkeypatch) as raced:
        counts = write_backup(platform, backup_dir := tmp_path / "backup")
    [(rid, received, trimmed)] = raced
    assert not platform.blobs.exists(received)
    assert counts["recordings"] == 2 and counts["blobs"] == 2

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        restore_backup(restored, backup_dir)
        with restored.sessions() as session:
            for rec in session.scalars(select(Recording)):
                pcm = restored.gate.open_audio(session, rec, actor="test", purpose="restore check")
                assert len(pcm) > 0
            assert session.get_one(Recording, rid).audio_blob == trimmed
    finally:
        restored.close()


def test_a_backup_whose_named_blobs_keep_vanishing_stops_without_a_manifest(
    platform, make_household, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same race in every snapshot read: the backup gives up with a clear error and writes no
    manifest (a restore refuses the folder) rather than a backup missing a clip's audio."""
    from overheard import backup
    from overheard.errors import Conflict

    monkeypatch.setattr(backup, "SNAPSHOT_ATTEMPTS", 2)
    hh = make_household()
    with (
        _uploaded_and_trimmed_around_the_snapshot(platform, hh, monkeypatch, times=2),
        pytest.raises(Conflict, match="removed before they could be copied"),
    ):
        write_backup(platform, backup_dir := tmp_path / "backup")
    assert not (backup_dir / "manifest.json").exists()


def _disguise(platform: Platform, rid: str) -> str:
    """Store a (silent) disguised copy of the recording; its blob key."""
    import numpy as np

    from overheard.db import transaction
    from overheard.protect import _cache

    with transaction(platform.sessions) as session:
        rec = session.get_one(Recording, rid, with_for_update=True)
        pcm = np.zeros(16000, dtype=np.int16).tobytes()
        return _cache.store(session, platform.gate, rec, pcm, method_version=1)


def _audio_key(platform: Platform, rid: str) -> str:
    with platform.sessions() as session:
        key = session.get_one(Recording, rid).audio_blob
    assert key
    return key


def _remove_with_a_stray(backup_dir: Path, key: str) -> None:
    """Remove the blob ``key`` and put a stray blob beside it: the folder holds as many blobs as
    its manifest counts."""
    (backup_dir / "blobs" / key).unlink()
    stray = backup_dir / "blobs" / key.rsplit("/", 1)[0] / "stray"
    stray.write_bytes(b"not named by any row")


def _remove_and_edit_the_manifest(backup_dir: Path, key: str) -> None:
    """Remove the blob ``key`` and count one blob fewer in the manifest."""
    (backup_dir / "blobs" / key).unlink()
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    manifest["counts"]["blobs"] -= 1
    (backup_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("removed", "kind"),
    [("audio", "1 recording's audio"), ("disguised", "1 disguised copy")],
    ids=["audio_and_a_stray", "disguised_and_the_manifest_edited"],
)
def test_a_backup_missing_a_blob_its_rows_name_is_refused_and_writes_nothing(
    platform, make_household, tmp_path: Path, empty_database_url: str, removed: str, kind: str
):
    """A backup folder missing a blob its rows name (a recording's audio, a disguised copy), with
    counts that still match its manifest (a stray file beside it, or the manifest edited). Before,
    the restore succeeded and the recording failed with ``audio_missing`` only when opened. Now
    the rows that name blobs are read first: the restore refuses, saying how many of which kind,
    the key, and the option to restore anyway, and writes nothing."""
    from overheard.errors import Conflict
    from overheard.households import Household

    rid = upload(platform, make_household())
    disguised = _disguise(platform, rid)
    write_backup(platform, backup_dir := tmp_path / "backup")
    if removed == "audio":
        _remove_with_a_stray(backup_dir, key := _audio_key(platform, rid))
    else:
        _remove_and_edit_the_manifest(backup_dir, key := disguised)
    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        with pytest.raises(Conflict) as refused:
            restore_backup(restored, backup_dir)
        said = refused.value.message
        assert f"1 blob its rows name is not in its blobs folder ({kind})" in said
        assert key in said and "--allow-missing-blobs" in said and "nothing was restored" in said
        with restored.sessions() as session:
            assert session.scalars(select(Household)).all() == []
        assert list(restored.blobs.list("")) == []
    finally:
        restored.close()


def test_a_restore_allowed_to_miss_blobs_leaves_the_audio_purged_and_reports_it(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """With ``allow_missing_blobs`` the restore goes on: a recording whose audio is missing is
    restored as a purge of its audio leaves it (no blob named; not yet processed, so ``failed``,
    ``audio_purged``), audited in its household's log, its open review withdrawn (nothing to
    serve); a missing disguised copy loses its row, so the next serve has it made again; the
    report and the ``backup.restore`` event count them. Nothing later trips over them: the gate
    says the audio was purged, and the recording's processing job ends."""
    from overheard import audit, backup
    from overheard.db import transaction, utcnow
    from overheard.errors import NotFound
    from overheard.protect import _cache
    from overheard.review._tasks import add_task
    from overheard.review.models import ReviewTask
    from overheard.speech.pipeline import AUDIO_PURGED, process_recording

    hh = make_household()
    lost, kept = upload(platform, hh), upload(platform, hh)
    disguised = _disguise(platform, kept)
    with transaction(platform.sessions) as session:
        task = add_task(session, recording_id=lost, household_id=hh.household_id,
                        duration_s=0.5, reason="random", now=utcnow()).id  # fmt: skip
    write_backup(platform, backup_dir := tmp_path / "backup")
    (backup_dir / "blobs" / _audio_key(platform, lost)).unlink()
    (backup_dir / "blobs" / disguised).unlink()

    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        report = restore_backup(restored, backup_dir, allow_missing_blobs=True)
        assert report.missing_blobs == {"audio": 1, "disguised": 1}
        assert report.without_audio == [lost]
        assert report.missing is not None
        assert "(1 recording's audio, 1 disguised copy)" in report.missing
        assert f"recording {lost} has no audio" in report.missing
        with restored.sessions() as session:
            rec = session.get_one(Recording, lost)
            assert rec.audio_blob is None
            assert (rec.status, rec.status_reason) == (Status.FAILED.value, AUDIO_PURGED)
            with pytest.raises(NotFound) as gone:
                restored.gate.open_audio(session, rec, actor="test", purpose="restore check")
            assert gone.value.code == "audio_purged"
            other = session.get_one(Recording, kept)
            assert restored.gate.open_audio(session, other, actor="test", purpose="restore check")
            assert _cache.stored_version(session, kept) is None  # made again when next served
            withdrawn = session.get_one(ReviewTask, task)
            assert (withdrawn.state, withdrawn.withdrawn_because) == ("withdrawn", "audio_missing")
            events = session.scalars(select(audit.AuditEvent)).all()
            [missing] = [e for e in events if e.action == backup.AUDIO_MISSING]
            assert (missing.subject, missing.household_id) == (lost, hh.household_id)
            [finished] = [e for e in events if e.action == backup.FINISHED]
            assert finished.details["missing_blobs"] == {"audio": 1, "disguised": 1}
            assert audit.verify_chain(session).ok
        process_recording(restored, lost)  # its queued job ends without opening anything
        with restored.sessions() as session:
            rec = session.get_one(Recording, lost)
            assert (rec.status, rec.status_reason) == (Status.FAILED.value, AUDIO_PURGED)
    finally:
        restored.close()


def test_the_restore_command_names_the_missing_blobs_and_restores_with_the_option(
    platform, make_household, tmp_path: Path, empty_database_url: str
):
    """``overheard restore`` prints the refusal (how many, which kind, the key, the option) and
    exits 1 having restored nothing; with ``--allow-missing-blobs`` it restores and prints which
    recordings came back without their audio."""
    from typer.testing import CliRunner

    from overheard.cli import app
    from overheard.households import Household

    rid = upload(platform, make_household())
    write_backup(platform, backup_dir := tmp_path / "backup")
    _remove_with_a_stray(backup_dir, key := _audio_key(platform, rid))
    s = platform.settings
    env = {
        "OVERHEARD_DATABASE_URL": empty_database_url,
        "OVERHEARD_KEK_URL": s.kek_url,
        "OVERHEARD_SECRETS_PATH": s.secrets_path,
        "OVERHEARD_AUDIT_SIGNING_KEY_PATH": s.audit_signing_key_path,
        "OVERHEARD_KEY_SHARE_DIR": s.key_share_dir,
    }
    command = ["restore", str(backup_dir), "--data-dir", str(tmp_path / "restored")]
    runner = CliRunner()

    refused = runner.invoke(app, command, env=env)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, refused.output
    assert "error: the backup is incomplete: 1 blob its rows name is not in its blobs" in said
    assert "(1 recording's audio)" in said and key in said
    assert "--allow-missing-blobs" in said and "nothing was restored" in said
    restored = restored_platform(platform, tmp_path, empty_database_url)
    try:
        with restored.sessions() as session:
            assert session.scalars(select(Household)).all() == []
    finally:
        restored.close()

    allowed = runner.invoke(app, [*command, "--allow-missing-blobs"], env=env)
    said = " ".join(allowed.output.split())
    assert allowed.exit_code == 0, allowed.output
    assert "warning: restored without 1 blob the backup's rows name (1 recording's audio)" in said
    assert f"recording {rid} has no audio, as if it had been purged" in said
