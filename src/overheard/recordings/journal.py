"""The deletion journal: ids of deleted recordings, kept where a restore cannot undo them.

A backup holds database rows and blobs only, so the receipts of deletions made after it was taken
are gone once it is restored. The journal keeps, next to the household key shares (which no backup
copies and a restore leaves alone), one line per deleted recording: when, household, recording id.
Ids only, never content. The lines are written (fsynced) inside the deletion's transaction,
before its commit: a process stopped between that commit and a line written after it would leave
a deletion the next restore undoes. A deletion that rolls back then adds a *void* line for the same
recordings (:func:`void`), so the restore leaves them be; only a process stopped before its
commit, with no void written, leaves lines for recordings it did not delete, and the restore
deletes those (their household asked for it). ``restore`` re-applies every journalled deletion of
a recording the restored database holds (``overheard.backup``).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from .. import durable
from ..errors import safe_trace
from ..platform import Platform

log = logging.getLogger(__name__)

FILE_NAME = "deletions.journal"
"""The journal's name inside the key-share folder (share names are ``<household>.g<n>``)."""
MODE = 0o600


def journal_path(platform: Platform) -> Path | None:
    """Where the journal lives; None without a local key-share folder (no journal is kept)."""
    shares = platform.keyring.shares
    return None if shares is None else shares.root / FILE_NAME


VOID = "void"
"""Fourth field of a line taking back an earlier one: its deletion rolled back."""


def append(
    platform: Platform, household_id: str, recording_ids: Iterable[str], when: datetime
) -> None:
    """Add one line per recording (fsynced), holding the file's lock so that processes appending
    at once never mix their lines. A failure is logged, never raised: the deletion goes on (the
    restore warns that one whose line is missing is not re-applied)."""
    _write(platform, household_id, recording_ids, when, "")


def void(
    platform: Platform, household_id: str, recording_ids: Iterable[str], when: datetime
) -> None:
    """Take back the lines :func:`append` wrote for a deletion that then rolled back."""
    _write(platform, household_id, recording_ids, when, f"\t{VOID}")


def _write(
    platform: Platform,
    household_id: str,
    recording_ids: Iterable[str],
    when: datetime,
    tail: str,
) -> None:
    path = journal_path(platform)
    stamp = when.isoformat()
    lines = "".join(f"{stamp}\t{household_id}\t{rid}{tail}\n" for rid in recording_ids)
    if path is None or not lines:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, MODE)
        try:
            os.fchmod(fd, MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            durable.write_all(fd, _after_cut(fd) + lines.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # by errno, not message: the message names the journal's path
        log.error(
            "the deletion journal could not be written; a restore would not re-apply it\n%s",
            safe_trace(exc),
        )


def _after_cut(fd: int) -> bytes:
    """A newline when the file ends inside a line (an earlier write cut short: a full disk, a
    process killed), so the next line is not glued to it and skipped by ``read``."""
    end = os.lseek(fd, 0, os.SEEK_END)
    return b"\n" if end and os.pread(fd, 1, end - 1) != b"\n" else b""


def read(platform: Platform) -> dict[str, set[str]]:
    """Journalled recording ids by household (empty when there is no journal)."""
    path = journal_path(platform)
    found: dict[str, set[str]] = {}
    if path is None or not path.exists():
        return found
    with path.open() as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:  # a line cut short by a crash mid-write is skipped
                found.setdefault(parts[1], set()).add(parts[2])
            elif len(parts) == 4 and parts[3] == VOID:  # rolled back: a later line may add it
                found.get(parts[1], set()).discard(parts[2])
    return {household: ids for household, ids in found.items() if ids}
