"""The offline queue: utterances waiting for the server, sealed on disk under the device key.

One file per utterance, ``<seq>.sealed``, written atomically (temporary file, fsync, rename). The
file holds AES-256-GCM ciphertext (``overheard.crypto.aead``) bound to its sequence number, so
files cannot be swapped or renamed unnoticed; inside are the idempotency key, the capture time and
the WAV. The queue is bounded by count and bytes; when full the oldest utterances are dropped, and
every drop is reported, never silent.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from overheard import durable
from overheard.crypto.aead import DATA_KEY_BYTES, new_data_key, open_sealed, seal
from overheard.errors import DecryptionFailed

SEALED_KIND = "device-queue"
"""The context every queued file is sealed for."""
SUFFIX = ".sealed"
MAX_ITEMS = 500
"""Default bound on queued utterances."""
MAX_BYTES = 100_000_000
"""Default bound on queued audio, bytes."""
HEADER_LENGTH_BYTES = 4
"""Width of the big-endian length of the JSON header that precedes the WAV."""
KEY_FILE_MODE = 0o600


@dataclass(frozen=True)
class Entry:
    """What the device knows about a queued utterance without opening it."""

    seq: int
    """Position in the queue (increasing)."""
    key: str
    """The idempotency key, fixed when the utterance was recorded."""
    captured_at: datetime
    """When the utterance began (aware)."""
    size_bytes: int
    """Bytes of WAV."""


@dataclass(frozen=True)
class Dropped:
    """An utterance the queue let go without delivering it."""

    entry: Entry
    reason: str
    """``"queue_full"``, ``"deleted"``, ``"refused"`` or ``"unreadable"``."""


def load_or_create_key(path: Path) -> bytes:
    """The device key in ``path`` (hex, mode 0600), created with fresh randomness if absent."""
    if not path.exists():
        _create_key(path)
    key = bytes.fromhex(path.read_text().strip())
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"{path} does not hold a {DATA_KEY_BYTES}-byte device key")
    return key


def _create_key(path: Path) -> None:
    """Write a new key to a temporary, sync it, and link it into place (never over another's).

    The queue's files are synced; the key that opens them must be too, and never be seen half
    written: an empty key file (a crash or power cut after its creation) stopped the device from
    starting, and a fresh key would have left every queued utterance unreadable (removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Another process that made it first keeps its file: its key is the one.
    durable.write_new(path, (new_data_key().hex() + "\n").encode(), mode=KEY_FILE_MODE)


class OfflineQueue:
    """A bounded FIFO of sealed utterances in a folder; safe to share between threads."""

    def __init__(
        self,
        folder: Path,
        key: bytes,
        *,
        max_items: int = MAX_ITEMS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.folder = folder
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._key = key
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        self.unreadable: list[Dropped] = []
        """Files found at start-up that did not open under the key (removed)."""
        self.held_back: list[int] = []
        """Sequence numbers of files that could not be read at start-up (an I/O error, not a
        wrong key): left in place for the next start, and never reused meanwhile."""
        folder.mkdir(parents=True, exist_ok=True)
        self._load()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes of queued WAV."""
        return sum(entry.size_bytes for entry in self._entries.values())

    def entries(self) -> list[Entry]:
        """The queued utterances, oldest first."""
        with self._lock:
            return [self._entries[seq] for seq in sorted(self._entries)]

    def put(
        self, wav: bytes, captured_at: datetime, key: str | None = None
    ) -> tuple[Entry, list[Dropped]]:
        """Queue one utterance (a fresh idempotency key unless given); returns what it displaced."""
        with self._lock:
            seq = max([*self._entries, *self.held_back], default=0) + 1
            entry = Entry(seq, key or uuid.uuid4().hex, captured_at, len(wav))
            # Written before room is made: a write that fails (a full disk) drops nothing queued.
            self._write(entry, wav)
            dropped = self._make_room(entry.size_bytes)
            self._entries[seq] = entry
        return entry, dropped

    def head(self) -> tuple[Entry, bytes] | None:
        """The oldest utterance and its WAV, or None when empty."""
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries[min(self._entries)]
            return entry, self._read(entry.seq)[1]

    def remove(self, seq: int) -> bool:
        """Forget a delivered (or refused) utterance; False if it was already gone."""
        with self._lock:
            if self._entries.pop(seq, None) is None:
                return False
            self._path(seq).unlink(missing_ok=True)
            return True

    def drop_between(self, since: datetime, until: datetime, reason: str) -> list[Dropped]:
        """Remove every utterance captured in [since, until]."""
        with self._lock:
            covered = [e for e in self._entries.values() if since <= e.captured_at <= until]
            for entry in covered:
                del self._entries[entry.seq]
                self._path(entry.seq).unlink(missing_ok=True)
        return [Dropped(entry, reason) for entry in sorted(covered, key=lambda e: e.seq)]

    def _make_room(self, incoming_bytes: int) -> list[Dropped]:
        dropped: list[Dropped] = []
        while self._entries and (
            len(self._entries) + 1 > self.max_items
            or self.size_bytes + incoming_bytes > self.max_bytes
        ):
            oldest = self._entries.pop(min(self._entries))
            self._path(oldest.seq).unlink(missing_ok=True)
            dropped.append(Dropped(oldest, "queue_full"))
        return dropped

    def _path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}{SUFFIX}"

    def _write(self, entry: Entry, wav: bytes) -> None:
        header = json.dumps(
            {"key": entry.key, "captured_at": entry.captured_at.isoformat()}
        ).encode()
        plain = len(header).to_bytes(HEADER_LENGTH_BYTES, "big") + header + wav
        sealed = seal(self._key, plain, record_id=str(entry.seq), kind=SEALED_KIND)
        path = self._path(entry.seq)
        durable.replace(path, sealed, mode=KEY_FILE_MODE)

    def _read(self, seq: int) -> tuple[dict[str, str], bytes]:
        sealed = self._path(seq).read_bytes()
        plain = open_sealed(self._key, sealed, record_id=str(seq), kind=SEALED_KIND)
        length = int.from_bytes(plain[:HEADER_LENGTH_BYTES], "big")
        header = json.loads(plain[HEADER_LENGTH_BYTES : HEADER_LENGTH_BYTES + length])
        return header, plain[HEADER_LENGTH_BYTES + length :]

    def _load(self) -> None:
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink()  # a write that never completed was never acknowledged to anyone
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            seq = int(path.stem) if path.stem.isdigit() else -1
            try:
                header, wav = self._read(seq)
            except OSError:
                # The disk, not the file: an utterance nobody has delivered yet is not thrown away
                # for a read that may work at the next start.
                self.held_back.append(seq)
                continue
            except (DecryptionFailed, ValueError):
                path.unlink()
                when = datetime.fromtimestamp(0).astimezone()
                self.unreadable.append(Dropped(Entry(seq, "", when, 0), "unreadable"))
                continue
            captured = datetime.fromisoformat(header["captured_at"])
            self._entries[seq] = Entry(seq, header["key"], captured, len(wav))
