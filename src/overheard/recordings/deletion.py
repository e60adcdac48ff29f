"""The one deletion service: by id, by time range, by voice command, or everything.

Rows, sealed texts, blobs and jobs go; modules that keep derived copies (review tasks, cached
disguised audio, export memberships) register a hook that runs in the same transaction. A receipt
records what was removed; a tombstone per recording lets its device learn it is gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import audit
from ..db import transaction, utcnow
from ..households import Household
from ..jobs import Job
from ..platform import Platform
from .models import DeletionReceipt, Recording, SealedText, Tombstone

DeletionHook = Callable[[Session, list[str]], dict[str, int]]
"""Called inside the deletion transaction with the recording ids; returns counts of what it removed."""
DELETION_HOOKS: list[DeletionHook] = []


@dataclass(frozen=True)
class Receipt:
    """What a deletion did."""

    id: str
    body: dict[str, Any]


def delete_recordings(
    platform: Platform,
    household_id: str,
    recording_ids: list[str],
    *,
    actor: str,
    scope: dict[str, Any],
    now: datetime | None = None,
    key_destroyed: bool = False,
) -> Receipt:
    """Delete the household's recordings among ``recording_ids`` (others' ids are ignored)."""
    when = now or utcnow()
    with transaction(platform.sessions) as session:
        rows = session.execute(
            select(Recording.id, Recording.audio_blob).where(
                Recording.household_id == household_id, Recording.id.in_(recording_ids)
            )
        ).all()
        ids = [r.id for r in rows]
        blobs = [r.audio_blob for r in rows if r.audio_blob]
        counts = _purge_rows(session, ids)
        receipt = _issue(
            session,
            household_id,
            ids,
            actor=actor,
            scope=scope,
            when=when,
            counts={"recordings": len(ids), "audio_blobs": len(blobs), **counts},
            key_destroyed=key_destroyed,
        )
    for key in blobs:
        platform.blobs.delete(key)
    return receipt


def _purge_rows(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {"derived_texts": 0}
    texts = (
        session.scalar(
            select(func.count()).select_from(SealedText).where(SealedText.recording_id.in_(ids))
        )
        or 0
    )
    extra: dict[str, int] = {}
    for hook in DELETION_HOOKS:
        extra.update(hook(session, ids))
    session.execute(delete(SealedText).where(SealedText.recording_id.in_(ids)))
    session.execute(delete(Job).where(Job.subject.in_(ids)))
    session.execute(delete(Recording).where(Recording.id.in_(ids)))
    return {"derived_texts": texts, **extra}


def _issue(
    session: Session,
    household_id: str,
    ids: list[str],
    *,
    actor: str,
    scope: dict[str, Any],
    when: datetime,
    counts: dict[str, int],
    key_destroyed: bool,
) -> Receipt:
    receipt_id = uuid.uuid4().hex
    body = {
        "receipt_id": receipt_id,
        "household_id": household_id,
        "scope": scope,
        "at": when.isoformat(),
        "counts": counts,
        "household_key_destroyed": key_destroyed,
    }
    session.add(
        DeletionReceipt(id=receipt_id, household_id=household_id, actor=actor, at=when, body=body)
    )
    session.flush()
    session.add_all(
        Tombstone(recording_id=i, household_id=household_id, receipt_id=receipt_id, deleted_at=when)
        for i in ids
    )
    audit.append(
        session,
        actor=actor,
        action="recordings.delete",
        subject=receipt_id,
        household_id=household_id,
        reason=scope.get("kind"),
        now=when,
        details={"counts": counts, "key_destroyed": key_destroyed},
    )
    return Receipt(receipt_id, body)


def delete_last(
    platform: Platform, command: Recording, *, window_s: float, now: datetime | None = None
) -> Receipt:
    """ "Delete what I just said": the device's previous recording within the window, and the command."""
    since = command.captured_at - timedelta(seconds=window_s)
    with platform.sessions() as session:
        previous = session.scalars(
            select(Recording.id)
            .where(
                Recording.device_id == command.device_id,
                Recording.id != command.id,
                Recording.captured_at >= since,
                Recording.captured_at <= command.captured_at,
            )
            .order_by(Recording.captured_at.desc())
            .limit(1)
        ).first()
    ids = [command.id] + ([previous] if previous else [])
    scope = {"kind": "voice_last", "command": command.id, "since": since.isoformat()}
    return delete_recordings(
        platform, command.household_id, ids, actor=command.device_id, scope=scope, now=now
    )


def local_midnight(when: datetime, tz_name: str) -> datetime:
    """The start of ``when``'s day in the household's time zone."""
    local = when.astimezone(ZoneInfo(tz_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def delete_today(platform: Platform, command: Recording, *, now: datetime | None = None) -> Receipt:
    """ "Delete everything I said today": the household's recordings since local midnight."""
    with platform.sessions() as session:
        household = session.get(Household, command.household_id)
        tz = household.timezone if household else "UTC"
        since = local_midnight(command.captured_at, tz)
        ids = list(
            session.scalars(
                select(Recording.id).where(
                    Recording.household_id == command.household_id, Recording.captured_at >= since
                )
            )
        )
    ids = sorted(set(ids) | {command.id})
    scope = {"kind": "voice_today", "command": command.id, "since": since.isoformat()}
    return delete_recordings(
        platform, command.household_id, ids, actor=command.device_id, scope=scope, now=now
    )


def delete_everything(
    platform: Platform, household_id: str, *, actor: str, now: datetime | None = None
) -> Receipt:
    """Crypto-shred the household key first (every copy unreadable at once), then purge everything."""
    when = now or utcnow()
    with transaction(platform.sessions) as session:
        destroyed = platform.keyring.destroy(session, household_id, now=when)
        audit.append(
            session,
            actor=actor,
            action="keys.destroy",
            subject=household_id,
            household_id=household_id,
            now=when,
        )
    with platform.sessions() as session:
        ids = list(
            session.scalars(select(Recording.id).where(Recording.household_id == household_id))
        )
    receipt = delete_recordings(
        platform,
        household_id,
        ids,
        actor=actor,
        now=when,
        scope={"kind": "everything"},
        key_destroyed=destroyed,
    )
    for stray in list(platform.blobs.list(f"audio/{household_id}/")):
        platform.blobs.delete(stray.key)
    return receipt
