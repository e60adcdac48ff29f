"""Model builds that leave nothing behind, even when the process is killed mid-build.

A build writes into ``models_dir/.building-<name>`` while holding an exclusive ``flock`` on
``models_dir/.building-<name>.lock``, then renames the finished artifact to its final name. The
artifact's files and folders are synced before that rename, and the models folder after it. The
kernel drops the lock when the process dies (also on SIGKILL or the out-of-memory killer), so a
staging artifact whose lock can be taken belongs to a dead build: it holds plaintext n-grams of
reviewed transcripts on no receipt, and ``sweep_dead_builds`` removes it (every build's start and
the retention sweep call it). A staging artifact whose lock is held is a live build's and is left.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import durable
from ..errors import Conflict
from ..purges import remove_path
from .working import close_folder

PREFIX = ".building-"
LOCK_SUFFIX = ".lock"


def _lock_path(models_dir: Path, name: str) -> Path:
    return models_dir / f"{PREFIX}{name}{LOCK_SUFFIX}"


def _try_lock(path: Path) -> int | None:
    """An fd holding ``path``'s exclusive lock, or None when a live process holds it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # the owner finished and unlinked it between our open and our lock
        os.close(fd)
        return None
    return fd


def _release(path: Path, fd: int) -> None:
    path.unlink(missing_ok=True)  # unlinked while still locked: nobody can take a stale lock
    os.close(fd)


def sweep_dead_builds(models_dir: Path) -> list[str]:
    """Remove the staging artifacts of builds whose process is gone; their names."""
    if not models_dir.is_dir():
        return []
    removed = []
    for lock in sorted(models_dir.glob(f"{PREFIX}*{LOCK_SUFFIX}")):
        fd = _try_lock(lock)
        if fd is None:
            continue
        name = lock.name[len(PREFIX) : -len(LOCK_SUFFIX)]
        try:
            remove_path(models_dir / f"{PREFIX}{name}")
            removed.append(name)
        finally:
            _release(lock, fd)
    return removed


@contextmanager
def staged_build(models_dir: Path, name: str) -> Iterator[Path]:
    """The path to build ``name`` at; renamed to ``models_dir/name`` when the block ends cleanly.

    Raises ``Conflict`` (code ``busy``) when another live build of the same name runs or the final
    name is taken. On any error the staging artifact is removed before the error goes on.
    """
    close_folder(models_dir)  # before a byte of a transcript's n-grams is written
    sweep_dead_builds(models_dir)
    lock = _lock_path(models_dir, name)
    fd = _try_lock(lock)
    if fd is None:
        raise Conflict(
            f"{models_dir / name} is being built; is another training run going?", code="busy"
        )
    staging = models_dir / f"{PREFIX}{name}"
    final = models_dir / name
    try:
        remove_path(staging)
        if final.exists():
            raise Conflict(f"{final} already exists; is another training run going?", code="busy")
        try:
            yield staging
        except BaseException:
            remove_path(staging)
            raise
        if final.exists():
            remove_path(staging)
            raise Conflict(f"{final} already exists; is another training run going?", code="busy")
        # Whole on disk before it has its final name, and the name kept: a power cut cannot leave
        # a model the registry names with empty or missing files.
        durable.sync_tree(staging)
        os.rename(staging, final)
        durable.sync_dir(models_dir)
    finally:
        _release(lock, fd)
