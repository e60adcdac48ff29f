"""A deleted clip's sealed rows leave no copy in the SQLite files while its household key lives.

Deleting one clip (not everything) keeps the household's data key, so a copy of its ciphertext
is as good as the plaintext to whoever also holds the key-encryption key (a key file on the same
disk by default). SQLite keeps the deleted rows' bytes in the write-ahead log (the frames of the
pages as they were) until they are overwritten, and in freed space of the database file unless
``secure_delete`` is on; a copy of the data folder taken after the deletion carried them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import Recording, SealedText
from tests.privacy._world import add_clip

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def holding(root: Path, pieces: list[bytes]) -> list[str]:
    """The files under ``root`` that hold one of ``pieces``."""
    return [p.name for p in root.rglob("*") if p.is_file() and any(x in p.read_bytes() for x in pieces)]


def test_a_deleted_clips_ciphertext_is_in_no_database_file(platform, make_household, tmp_path):  # type: ignore[no-untyped-def]
    clip = add_clip(platform, make_household, hypothesis="the biopsy came back positive")
    kept = add_clip(platform, make_household, hypothesis="turn on the lights")
    with platform.sessions() as s:
        sealed = s.scalars(select(SealedText.sealed).where(SealedText.recording_id == clip.recording_id))
        pieces = [bytes(x[16:48]) for x in sealed]
    data_dir = tmp_path  # the database (with -wal, -shm) and the data folder
    assert pieces and holding(data_dir, pieces) != []  # found before the deletion
    delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    assert holding(data_dir, pieces) == []
    platform.close()
    assert holding(data_dir, pieces) == []

    from overheard.platform import Platform

    again = Platform.open(platform.settings)  # nothing else was lost on the way
    try:
        with again.sessions() as s:
            rec = s.get_one(Recording, kept.recording_id)
            text = again.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t")
        assert "lights" in text
    finally:
        again.close()


def test_a_reader_holding_the_log_keeps_the_receipt_open_until_the_log_is_emptied(  # type: ignore[no-untyped-def]
    platform, make_household, tmp_path
):
    import sqlite3

    from overheard import purges
    from overheard.recordings.models import DeletionReceipt

    clip = add_clip(platform, make_household, hypothesis="the biopsy came back positive")
    with platform.sessions() as s:
        sealed = s.scalars(select(SealedText.sealed).where(SealedText.recording_id == clip.recording_id))
        pieces = [bytes(x[16:48]) for x in sealed]
    reader = sqlite3.connect(str(platform.engine.url.database))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM recordings").fetchone()  # a snapshot older than the deletion
    try:
        receipt = delete_recordings(
            platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
        )
        with platform.sessions() as s:
            assert s.get_one(DeletionReceipt, receipt.id).completed_at is None  # not every copy gone
            assert purges.pending(s, receipt_id=receipt.id) == 1
    finally:
        reader.rollback()
        reader.close()
    assert purges.run(platform) == 0  # the job's retry, once the reader is done
    with platform.sessions() as s:
        assert s.get_one(DeletionReceipt, receipt.id).completed_at is not None
    assert holding(tmp_path, pieces) == []
