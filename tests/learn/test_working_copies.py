"""Plaintext working copies: tracked, 0700/0600, removed by any member's deletion and by expiry."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from sqlalchemy import select

from overheard import purges
from overheard.db import utcnow
from overheard.errors import BadRequest
from overheard.learn.export import export_plaintext, export_sealed, open_for_training
from overheard.learn.models import WorkingCopy
from overheard.learn.working import expire
from overheard.recordings.deletion import delete_everything, delete_recordings
from overheard.recordings.models import DeletionReceipt
from tests.learn.test_export import world  # noqa: F401  (the fixture)


def modes(folder):
    entries = [folder, *folder.rglob("*")]
    return {stat.S_IMODE(p.stat().st_mode) for p in entries if p.is_dir()}, {
        stat.S_IMODE(p.stat().st_mode) for p in entries if p.is_file()
    }


def test_training_folder_is_private_tracked_and_removed_when_a_member_household_deletes(
    platform, world, tmp_path  # noqa: F811
):
    export_sealed(platform, tmp_path / "ex", split="all")
    run = tmp_path / "run"
    open_for_training(platform, tmp_path / "ex", run)
    dirs, files = modes(run)
    assert dirs == {0o700} and files == {0o600}
    assert modes(tmp_path / "ex") == ({0o700}, {0o600})  # the sealed export too
    assert list(run.rglob("*.wav")) and (run / "metadata.jsonl").is_file()
    with platform.sessions() as s:
        copy = s.scalars(select(WorkingCopy)).one()
    assert copy.path == str(run.resolve()) and copy.purpose == "training"
    home = next(iter(world["good"].values()))
    receipt = delete_everything(platform, home.household_id, actor="customer")
    assert not run.exists()
    assert receipt.body["working_copies_removed"] == [str(run.resolve())]
    assert receipt.body["counts"]["working_copies_removed"] == 1
    with platform.sessions() as s:
        assert s.get(WorkingCopy, copy.id).removed_because == "recording_deleted"
        assert s.get(DeletionReceipt, receipt.id).completed_at is not None
        assert purges.pending(s) == 0


def test_plaintext_export_goes_with_one_deleted_recording(platform, world, tmp_path, make_staff):  # noqa: F811
    officer = make_staff("privacy_officer")
    plain = tmp_path / "plain"
    export_plaintext(platform, plain, staff_id=officer)
    assert modes(plain) == ({0o700}, {0o600})
    victim, home = next(iter(world["good"].items()))
    receipt = delete_recordings(platform, home.household_id, [victim], actor="c", scope={"kind": "one"})
    assert not plain.exists() and receipt.body["working_copies_removed"] == [str(plain.resolve())]


def test_working_copies_expire_and_never_overwrite_a_folder(platform, world, tmp_path):  # noqa: F811
    export_sealed(platform, tmp_path / "ex")
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("not the platform's")
    with pytest.raises(BadRequest):
        open_for_training(platform, tmp_path / "ex", keep)
    assert (keep / "notes.txt").is_file()
    run = tmp_path / "run"
    open_for_training(platform, tmp_path / "ex", run)
    assert expire(platform, utcnow()) == 0 and run.exists()
    ttl = platform.settings.learn_working_copy_ttl_s
    assert expire(platform, utcnow() + timedelta(seconds=ttl + 1)) == 1
    assert not run.exists()
