"""An export that races a deletion of one of its clips leaves no clip anyone can open."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.errors import Conflict
from overheard.learn.export import export_sealed, open_for_training
from overheard.learn.models import ExportMember
from overheard.recordings.deletion import delete_recordings
from tests.interleave import interleaved


def test_a_deletion_during_an_export_erases_the_clip_key_it_gave(
    platform, make_home, make_reviewed, tmp_path
):  # type: ignore[no-untyped-def]
    """The export seals each clip under a clip key kept on its membership row; a deletion that
    lands before the export commits must find that row and erase the key (or leave the clip out
    of the export), never leave the deleted clip readable in the shard."""
    home = make_home()
    victim = make_reviewed(home, "alexa play some folk", "music_play")
    kept = make_reviewed(home, "alexa switch on the lounge lights", "lights_on")

    def delete() -> object:
        return delete_recordings(
            platform, home.household_id, [victim], actor="customer", scope={"kind": "one"}
        )

    with interleaved(platform, delete, at_commit=1) as receipts:
        export_sealed(platform, tmp_path / "ex")
    with platform.sessions() as s:
        members = {m.recording_id: m for m in s.scalars(select(ExportMember))}
    assert kept in members and members[kept].clip_key is not None
    assert victim not in members or members[victim].clip_key is None
    summary = open_for_training(platform, tmp_path / "ex", tmp_path / "run")
    assert summary.clips == 1
    assert receipts[0].body["counts"].get("export_memberships_removed", 0) == int(victim in members)


def test_a_deletion_while_a_training_copy_is_written_leaves_no_plaintext(
    platform, make_home, make_reviewed, tmp_path
):  # type: ignore[no-untyped-def]
    """Opening an export for training writes the clips' audio in its transaction and the layouts
    after it; a deletion that commits in between removes the folder at once. The layouts written
    afterwards (the Kaldi writer makes its folder again) must not stay: the opening notices that its
    working copy was removed, removes the folder and fails."""
    home = make_home()
    victim = make_reviewed(home, "alexa play some folk", "music_play")
    export_sealed(platform, tmp_path / "ex")
    run = tmp_path / "run"

    def delete() -> object:
        return delete_recordings(
            platform, home.household_id, [victim], actor="customer", scope={"kind": "one"}
        )

    # Commit 1 registers the working copy, commit 2 ends the reading of the shards.
    racing = interleaved(platform, delete, at_commit=2, finish_after=True)
    with pytest.raises(Conflict) as refused, racing as receipts:
        open_for_training(platform, tmp_path / "ex", run, formats=("kaldi",))
    assert refused.value.code == "working_copy_removed"
    assert not run.exists()
    assert receipts[0].body["working_copies_removed"] == [str(run.resolve())]
