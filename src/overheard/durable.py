"""Durable writes: once a call returns, the file is on disk whole, and a crash never shows it half.

The bytes go to a temporary beside the target (``.<name>.<random>.tmp``), are synced, then linked
into place (:func:`write_new`: never over an existing file) or renamed over it (:func:`replace`),
and the folder is synced so the new name survives a power cut too. A failure at any step removes
the temporary and leaves the target as it was.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"
"""Every temporary this module names ends so (sweepers of a folder may look for it)."""
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` (exactly ``mode``); False, and the file there kept as it
    is, when one exists already (another process made it first)."""
    fd, temporary = temporary_beside(path, mode)
    return install(fd, temporary, path, data, exclusive=True)


def replace(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Put ``data`` at ``path`` (exactly ``mode``) in one atomic step, over any file there."""
    fd, temporary = temporary_beside(path, mode)
    install(fd, temporary, path, data)


def temporary_beside(path: Path, mode: int) -> tuple[int, Path]:
    """Create an exclusive temporary next to ``path`` with exactly ``mode``: its open descriptor
    and its path (a caller that must translate a failure to create it calls this itself)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}{TEMPORARY_SUFFIX}")
    fd = os.open(temporary, _OPEN_FLAGS, mode)
    try:
        os.fchmod(fd, mode)  # the umask may only take bits away; make it exact
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    return fd, temporary


def install(fd: int, temporary: Path, path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` into the open ``temporary``, sync and close it, then link it to ``path``
    (``exclusive``: False when a file is there already) or rename it over ``path``; sync the
    folder. The temporary is gone afterwards whatever happened, the target whole or untouched."""
    try:
        _fill(fd, data)
        created = _link(temporary, path) if exclusive else _rename(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # renamed: gone already; linked: the target holds it
    sync_dir(path.parent)
    return created


def _fill(fd: int, data: bytes) -> None:
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(temporary: Path, path: Path) -> bool:
    try:
        os.link(temporary, path)  # atomic, and never over an existing file
    except FileExistsError:
        return False
    return True


def _rename(temporary: Path, path: Path) -> bool:
    os.replace(temporary, path)
    return True


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sync_dir(folder: Path) -> None:
    """Make the names in ``folder`` (a new, renamed or removed file) survive a power cut. A folder
    gone meanwhile (a concurrent delete pruned it) has nothing left to keep."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """Sync every file and folder under ``root`` (``root`` too; a file ``root`` alone), deepest
    first: what a build wrote there survives a power cut once it is renamed into place."""
    if not root.is_dir():
        _sync_file(root)
        return
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            _sync_file(Path(folder) / name)
        sync_dir(Path(folder))


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
