"""The offline queue: sealed on disk, ordered, bounded, honest about what it drops."""

from __future__ import annotations

import errno
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from overheard.device import queue as queue_module
from overheard.device.queue import OfflineQueue, load_or_create_key
from overheard.speech.audio import to_wav_bytes

T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def wav(seed: int, seconds: float = 0.5) -> bytes:
    rng = np.random.default_rng(seed)
    return to_wav_bytes(rng.integers(-9000, 9000, int(seconds * 16000)).astype(np.int16))


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return load_or_create_key(tmp_path / "device.key")


def test_key_file_is_private_random_and_reused(tmp_path: Path):
    first = load_or_create_key(tmp_path / "k" / "device.key")
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "device.key").st_mode) == 0o600
    assert load_or_create_key(tmp_path / "k" / "device.key") == first
    assert load_or_create_key(tmp_path / "other.key") != first


def test_a_key_creation_cut_short_leaves_no_key_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The key file was created empty and then written: a process that stopped in between (a
    crash, a power cut before the unsynced write reached the disk) left an empty key file that
    refused every later start. It is written aside, synced, and linked into place whole."""

    def stopped() -> bytes:
        raise KeyboardInterrupt  # the process stops between creating the file and writing it

    monkeypatch.setattr(queue_module, "new_data_key", stopped)
    with pytest.raises(KeyboardInterrupt):
        load_or_create_key(tmp_path / "k" / "device.key")
    monkeypatch.undo()
    assert list((tmp_path / "k").iterdir()) == []
    key = load_or_create_key(tmp_path / "k" / "device.key")
    assert len(key) == 32 and list((tmp_path / "k").iterdir()) == [tmp_path / "k" / "device.key"]


def test_fifo_survives_a_restart_with_keys_and_times(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key)
    entries = [queue.put(wav(i), T0 + timedelta(seconds=i))[0] for i in range(3)]
    reopened = OfflineQueue(tmp_path / "q", key)
    assert reopened.entries() == entries
    head = reopened.head()
    assert head is not None and head[0] == entries[0] and head[1] == wav(0)
    assert reopened.remove(entries[0].seq) and not reopened.remove(entries[0].seq)
    assert [e.key for e in OfflineQueue(tmp_path / "q", key).entries()] == [e.key for e in entries[1:]]
    assert len({e.key for e in entries}) == 3


def test_nothing_readable_is_on_disk(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key)
    audio = wav(1)
    entry, _ = queue.put(audio, T0)
    raw = b"".join(p.read_bytes() for p in (tmp_path / "q").iterdir())
    assert b"RIFF" not in raw and audio[100:164] not in raw
    assert entry.key.encode() not in raw and b"2024-05-01" not in raw


def test_files_under_another_key_or_renamed_are_removed_and_reported(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key)
    queue.put(wav(1), T0)
    second, _ = queue.put(wav(2), T0)
    files = sorted((tmp_path / "q").iterdir())
    files[0].rename(tmp_path / "q" / "000000000099.sealed")  # moved out of its place in the queue
    reopened = OfflineQueue(tmp_path / "q", key)
    assert [e.seq for e in reopened.entries()] == [second.seq]
    assert [d.reason for d in reopened.unreadable] == ["unreadable"]
    stranger = OfflineQueue(tmp_path / "q", os.urandom(32))
    assert len(stranger) == 0 and len(stranger.unreadable) == 1
    assert not list((tmp_path / "q").iterdir())


def test_bound_by_count_drops_the_oldest_and_says_so(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key, max_items=3)
    dropped = [d for i in range(5) for d in queue.put(wav(i), T0 + timedelta(seconds=i))[1]]
    assert [d.entry.captured_at for d in dropped] == [T0, T0 + timedelta(seconds=1)]
    assert {d.reason for d in dropped} == {"queue_full"}
    assert len(queue) == 3 and len(list((tmp_path / "q").iterdir())) == 3


def test_bound_by_bytes(tmp_path: Path, key: bytes):
    one = len(wav(0))
    queue = OfflineQueue(tmp_path / "q", key, max_bytes=2 * one + 10)
    dropped = [d for i in range(4) for d in queue.put(wav(i), T0)[1]]
    assert len(dropped) == 2 and queue.size_bytes <= 2 * one + 10


def test_drop_between_removes_what_a_deletion_covers(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key)
    for minute in range(5):
        queue.put(wav(minute), T0 + timedelta(minutes=minute))
    gone = queue.drop_between(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3), "deleted")
    assert [d.entry.captured_at.minute for d in gone] == [1, 2, 3]
    assert [e.captured_at.minute for e in OfflineQueue(tmp_path / "q", key).entries()] == [0, 4]


def test_a_file_the_disk_fails_to_read_is_kept_and_its_number_never_reused(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
):
    queue = OfflineQueue(tmp_path / "q", key)
    first, _ = queue.put(wav(1), T0)
    last, _ = queue.put(wav(2), T0)
    failing = queue._path(last.seq)
    real_read_bytes = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path == failing:
            raise OSError(errno.EIO, "Input/output error")
        return real_read_bytes(path)

    with monkeypatch.context() as patch:  # a disk error at start-up
        patch.setattr(Path, "read_bytes", read_bytes)
        reopened = OfflineQueue(tmp_path / "q", key)
        assert [e.seq for e in reopened.entries()] == [first.seq]
        assert reopened.held_back == [last.seq] and not reopened.unreadable
        newer, _ = reopened.put(wav(3), T0)
    assert newer.seq > last.seq and failing.exists()
    again = OfflineQueue(tmp_path / "q", key)  # the disk reads again: nothing was lost
    assert [e.seq for e in again.entries()] == [first.seq, last.seq, newer.seq]
    head = again.head()
    assert head is not None and head[1] == wav(1)


def test_a_folder_in_place_of_a_queued_file_does_not_stop_the_queue(tmp_path: Path, key: bytes):
    queue = OfflineQueue(tmp_path / "q", key)
    queue.put(wav(1), T0)
    (tmp_path / "q" / f"{7:012d}.sealed").mkdir()
    reopened = OfflineQueue(tmp_path / "q", key)
    assert len(reopened) == 1 and reopened.held_back == [7]
    assert reopened.put(wav(2), T0)[0].seq == 8


def test_a_write_that_fails_drops_nothing_already_queued(tmp_path: Path, key: bytes):
    """A full queue made room (removed its oldest file) before it wrote the new one: a write that
    then failed (a full disk) lost the oldest utterance as well, and its drop was never reported
    (``put`` raised before returning it). The new file is written first now."""
    queue = OfflineQueue(tmp_path / "q", key, max_items=2)
    kept = [queue.put(wav(i), T0 + timedelta(seconds=i))[0] for i in range(2)]
    blocker = tmp_path / "q" / f"{3:012d}.sealed"
    (blocker / "in-the-way").mkdir(parents=True)  # nothing can be renamed over it: the write fails
    with pytest.raises(OSError):
        queue.put(wav(9), T0 + timedelta(seconds=9))
    assert queue.entries() == kept
    assert not list((tmp_path / "q").glob("*.tmp"))
    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    reopened = OfflineQueue(tmp_path / "q", key, max_items=2)
    assert reopened.entries() == kept
    assert reopened.head() == (kept[0], wav(0))
    entry, dropped = reopened.put(wav(3), T0 + timedelta(seconds=3))
    assert [d.entry for d in dropped] == kept[:1] and entry.seq == 3


def test_a_today_deletion_from_another_device_leaves_the_next_day_queued(tmp_path: Path, key: bytes):
    # "delete everything I said today", said on another device at 23:55 and carried out at 00:10:
    # the server keeps what was said after midnight, so this device keeps it queued too
    from overheard.device.client import Deletion
    from overheard.device.delivery import Uploader, _Watched

    queue = OfflineQueue(tmp_path / "q", key)
    midnight = datetime(2024, 5, 2, tzinfo=UTC)
    for at in (midnight - timedelta(minutes=50), midnight + timedelta(minutes=5)):
        queue.put(wav(at.minute), at)
    uploader = Uploader(client=None, queue=queue)  # type: ignore[arg-type]  # no call is made
    today = Deletion(
        recording_id="mine", receipt_id="r1", kind="voice_today", command="on-another-device",
        since=midnight - timedelta(days=1), deleted_at=midnight + timedelta(minutes=10),
        until=midnight,
    )  # fmt: skip
    uploader._deleted(today, _Watched("mine", midnight - timedelta(hours=2), until=0.0))
    assert [e.captured_at for e in queue.entries()] == [midnight + timedelta(minutes=5)]
    assert uploader.tally.deleted_here == 1
