"""Plaintext working copies: every folder of opened clips the platform writes is tracked and removed.

``export --for-training`` and ``export --plaintext`` write plain WAVs and transcripts. Before a byte
is written, the folder is registered in ``learn_working_copies`` with its export (whose members say
which households and recordings it holds), made 0700, and its files are made 0600. The folder is
removed, by a purge that is retried until it succeeds, when any recording of its export is deleted
(the receipt lists it), and by the retention sweep once ``learn_working_copy_ttl_s`` has passed.
A copy a person makes by hand outside these folders is not tracked (see ``docs/crypto.md``).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, purges
from ..db import transaction, utcnow
from ..errors import BadRequest, Conflict
from ..platform import Platform
from ..purges import Target
from ..recordings.purging import DELETION_PURGE
from .models import ExportMember, WorkingCopy

FOLDER_MODE = 0o700
FILE_MODE = 0o600
EXPIRED_PURGE = "working_copy_expired"
"""Reason of the purge of a working copy past its time to live."""


def register(
    session: Session, export_id: str, folder: Path, *, purpose: str, ttl_s: float, now: datetime
) -> WorkingCopy:
    """Track ``folder`` (new or empty; created 0700 here) as a plaintext copy of ``export_id``'s clips."""
    path = folder.resolve()
    _refuse_unsafe(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BadRequest(
            f"{path} is not a new or empty folder; a working copy is removed whole",
            code="working_folder_not_empty",
        )
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    path.chmod(FOLDER_MODE)
    copy = WorkingCopy(
        id=uuid.uuid4().hex,
        export_id=export_id,
        path=str(path),
        host=purges.this_host(),
        purpose=purpose,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(copy)
    session.flush()
    return copy


def _refuse_unsafe(path: Path) -> None:
    """A working copy is removed whole: never let it be the root, home or a folder of others."""
    if len(path.parts) < 3 or path == Path.home():
        raise BadRequest(
            f"{path} is too broad for a working copy (it is removed whole); name a new folder",
            code="unsafe_working_folder",
        )


def seal_modes(folder: Path) -> None:
    """Folders 0700 and files 0600 all the way down (written content is never world-readable); a
    symlink is left alone (its target, which may be anywhere, keeps its mode)."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, FOLDER_MODE)
        for name in dirs:
            _chmod_unless_link(os.path.join(root, name), FOLDER_MODE)
        for name in files:
            _chmod_unless_link(os.path.join(root, name), FILE_MODE)


def _chmod_unless_link(path: str, mode: int) -> None:
    if not os.path.islink(path):
        os.chmod(path, mode)


def close_folder(folder: Path) -> None:
    """``folder`` made (or kept) 0700: what is written inside is reachable by nobody else."""
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    folder.chmod(FOLDER_MODE)


def make_private(path: Path) -> None:
    """A model file 0600 or a model folder 0700 with 0600 files, in a 0700 parent."""
    path.parent.chmod(FOLDER_MODE)
    if path.is_dir():
        seal_modes(path)
    elif path.exists():
        path.chmod(FILE_MODE)


def confirm_live(platform: Platform, copy_id: str) -> None:
    """After the last write into a working copy: Conflict if a deletion marked it removed meanwhile
    (the caller then removes the folder, whatever the deletion's purge found in it).

    The row is locked: a deletion that has not marked it yet does so after this commit, and its
    purge then finds every file this copy will ever hold.
    """
    with transaction(platform.sessions) as session:
        copy = session.get(WorkingCopy, copy_id, with_for_update=True)
        if copy is None or copy.removed_at is not None:
            raise Conflict(
                "a deletion removed this working copy while it was written",
                code="working_copy_removed",
            )


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Deletion hook: every live working copy of an export holding one of them is removed."""
    exports = select(ExportMember.export_id).where(ExportMember.recording_id.in_(recording_ids))
    copies = list(
        session.scalars(
            select(WorkingCopy).where(
                WorkingCopy.export_id.in_(exports), WorkingCopy.removed_at.is_(None)
            )
        )
    )
    _remove(session, copies, reason=DELETION_PURGE, because="recording_deleted", now=utcnow())
    return {"working_copies_removed": len(copies)} if copies else {}


def _remove(
    session: Session, copies: list[WorkingCopy], *, reason: str, because: str, now: datetime
) -> None:
    for copy in copies:
        copy.removed_at, copy.removed_because = now, because
        purges.schedule(session, Target.PATH, [copy.path], reason=reason, now=now)


def expire(platform: Platform, now: datetime | None = None) -> int:
    """Schedule the removal of working copies past their time to live; how many."""
    when = now or utcnow()
    with transaction(platform.sessions) as session:
        copies = list(
            session.scalars(
                select(WorkingCopy).where(
                    WorkingCopy.removed_at.is_(None), WorkingCopy.expires_at <= when
                )
            )
        )
        _remove(session, copies, reason=EXPIRED_PURGE, because="expired", now=when)
        if copies:
            audit.append(
                session,
                actor="system:retention",
                action="learn.working_copies_expired",
                now=when,
                details={"copies": [c.id for c in copies]},
            )
    return len(copies)


def live_copies(session: Session) -> list[WorkingCopy]:
    """Working copies not yet removed, oldest first."""
    return list(
        session.scalars(
            select(WorkingCopy)
            .where(WorkingCopy.removed_at.is_(None))
            .order_by(WorkingCopy.created_at)
        )
    )
