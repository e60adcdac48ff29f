"""The one deletion service: by id, by time range, by voice command, by retention, or everything.

Rows, sealed texts, blobs and jobs go; modules that keep derived copies (review tasks, cached
disguised audio, export memberships) register a hook in ``DELETION_HOOKS`` that runs in the same
transaction, on every path. Each deletion issues one receipt, signed with the audit key; a tombstone
per recording lets its device learn it is gone. "Everything" first replaces the household's data key
by a new generation (crypto-shredding: every copy under the old key is unreadable from that commit
on; the old key share is erased right after it), then purges. See ``docs/customer.md``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import audit, purges
from ..customer.receipts import RECEIPT_FORMAT, sign_receipt
from ..db import transaction, utcnow
from ..errors import KeyUnavailable
from ..households import Household
from ..jobs import Job
from ..keys import DataKey
from ..platform import Platform
from ..purges import Target
from . import erased, journal
from .models import DeletionReceipt, Recording, SealedText, Tombstone
from .purging import DELETION_PURGE, complete_receipt_audit

log = logging.getLogger(__name__)

DeletionHook = Callable[[Session, list[str]], dict[str, int]]
"""Called inside the deletion transaction with the recording ids; returns counts of what it removed."""
DELETION_HOOKS: list[DeletionHook] = []
KeyHandover = Callable[[Session, str, bytes, bytes], int]
"""``(session, household_id, old_key, new_key)``: re-seal what must outlive a shredding (identity)."""
HOUSEHOLD_BLOB_PREFIXES = ("audio/{household_id}/", "disguised/{household_id}/")
"""Blob prefixes that hold only one household's data; "everything" empties them."""
RECEIPT_LISTS = "overheard.receipt_lists"
"""``Session.info`` key where hooks name things for the receipt (see :func:`add_to_receipt`)."""
ID_BATCH = 500
"""Recording ids per SQL ``IN`` list."""
LISTED_IDS_MAX = 100
"""Receipts list the recording ids when there are at most this many (always their digest)."""
BACKUPS_SHREDDED = (
    "Backups taken before this deletion hold only ciphertext under the destroyed key and its "
    "destroyed share: they cannot be opened."
)
BACKUPS_WRAPPED_KEY = (
    "The household key was destroyed in the live database; a database backup taken before this "
    "deletion still holds it wrapped until that backup expires or the key-encryption key version "
    "is retired."
)
BACKUPS_SHARE_PENDING = (
    "The household key was destroyed in the live database; its key share could not be erased yet "
    "and is erased by the next sweep: until then a database backup taken before this deletion "
    "could still be opened with it."
)
BACKUPS_SCOPED = (
    "Database and blob-store backups taken before this deletion still hold these recordings, "
    "encrypted under your household key, until those backups expire; deleting everything "
    "destroys that key."
)


@dataclass(frozen=True)
class Receipt:
    """What a deletion did: the signed receipt document."""

    id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Shredding:
    """The outcome of destroying a household's key: what generation died and what was live then."""

    household_id: str
    at: datetime
    destroyed: bool
    """False when there was no live key to destroy."""
    generation_destroyed: int | None
    new_generation: int
    used_share: bool
    """Whether the destroyed key depended on a key share outside the database."""
    recording_ids: list[str]
    """The household's recordings when the key was destroyed (all sealed under it)."""
    resealed: int
    """Fields re-sealed under the new key by the handover (identity)."""
    share_erased: bool = True
    """False when the destroyed key's share was still on disk after the commit (the sweep erases
    it)."""
    blobs_before: tuple[str, ...] = ()
    """The household's blobs listed before the key was replaced (all sealed under the old key or
    an earlier one): the only ones that may be purged as strays."""


def add_to_receipt(session: Session, name: str, items: Iterable[str]) -> None:
    """From a deletion hook: list ``items`` under ``name`` in the receipt (sorted, no repeats)."""
    lists: dict[str, set[str]] = session.info.setdefault(RECEIPT_LISTS, {})
    lists.setdefault(name, set()).update(items)


def batched(ids: list[str], size: int = ID_BATCH) -> Iterator[list[str]]:
    """``ids`` in consecutive slices of at most ``size``."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def delete_recordings(
    platform: Platform,
    household_id: str,
    recording_ids: list[str],
    *,
    actor: str,
    scope: dict[str, Any],
    now: datetime | None = None,
    key_destroyed: bool = False,
    extra: Mapping[str, Any] | None = None,
    extra_blobs: Sequence[str] = (),
    journalled: bool = True,
    span: tuple[datetime, datetime] | None = None,
) -> Receipt:
    """Delete the household's recordings among ``recording_ids`` (others' ids are ignored).

    Rows go in one transaction with the receipt; every copy outside the rows (audio and other
    blobs, working folders, model files) becomes a purge under the receipt, tried as the
    transaction commits and retried until done. The receipt is ``completed_at`` only when the
    last of them is gone. The ids go to the deletion journal (``journal``) before the commit, and
    are taken back there if the transaction fails, so a restore of an older backup deletes them
    again; not when the key was destroyed (its share is gone, a restore keeps the household shut)
    nor when ``journalled`` is False (a re-application).
    ``span`` is the capture time the deletion names (up to ``now``), kept so that an upload
    captured in it later is refused (:mod:`.erased`).
    """
    when = now or utcnow()
    journal_ids: list[str] = []
    try:
        with transaction(platform.sessions) as session:
            rows = _owned(session, household_id, recording_ids)
            if span is not None:  # after the recordings' locks, as every job that takes both
                erased.remember(session, household_id, *span, now=when)
            ids = [r.id for r in rows]
            if journalled and not key_destroyed:
                # Before the commit: a line written after it is lost if the process stops in between.
                journal.append(platform, household_id, ids, when)
                journal_ids.extend(ids)
            blobs = [r.audio_blob for r in rows if r.audio_blob]
            counts = {"recordings": len(ids), "audio_blobs": len(blobs), **_purge_rows(session, ids)}
            counts.update((extra or {}).get("counts", {}))
            purges.schedule(
                session,
                Target.BLOB,
                [*blobs, *extra_blobs],
                reason=DELETION_PURGE,
                household_id=household_id,
                now=when,
            )
            if platform.engine.dialect.name == "sqlite":  # the deleted rows' bytes in its log
                purges.schedule(
                    session,
                    Target.DB_LOG,
                    [str(platform.engine.url.database)],
                    reason=DELETION_PURGE,
                    household_id=household_id,
                    now=when,
                )
            body = _body(household_id, ids, actor, scope, when, counts, key_destroyed, extra)
            body["working_copies_removed"] = purges.scheduled_here(session, Target.PATH)
            lists = session.info.pop(RECEIPT_LISTS, {})
            body.update({name: sorted(items) for name, items in lists.items()})
            purge_ids = purges.for_receipt(session, body["receipt_id"])
            body["copies_to_remove"] = len(purge_ids)
            receipt = _issue(session, platform, body, rows)
            if not purge_ids:
                _complete_now(session, receipt.id, household_id, when)
    except BaseException:
        journal.void(platform, household_id, _still_there(platform, journal_ids), when)
        raise
    # Committing ran the purges once (the platform's sessions carry the runner); the job retries.
    return receipt


def _still_there(platform: Platform, recording_ids: list[str]) -> list[str]:
    """Those of ``recording_ids`` whose rows exist: a deletion that failed after its commit (in
    a hook run as it committed) did delete them and keeps its journal lines. When the database
    cannot say, none: the lines stay, and a restore deletes what the household asked to."""
    if not recording_ids:
        return []
    try:
        with platform.sessions() as session:
            return [
                rid
                for chunk in batched(sorted(recording_ids))
                for rid in session.scalars(select(Recording.id).where(Recording.id.in_(chunk)))
            ]
    except Exception:  # the failure being raised is the one to report
        log.warning("could not tell whether a failed deletion committed; its journal lines stay")
        return []


def _complete_now(session: Session, receipt_id: str, household_id: str, when: datetime) -> None:
    """A deletion with no copies outside the rows is complete when it commits."""
    row = session.get_one(DeletionReceipt, receipt_id)
    row.completed_at = when
    complete_receipt_audit(session, receipt_id, household_id, when)


def _owned(session: Session, household_id: str, recording_ids: list[str]) -> list[Any]:
    """The rows to delete, locked (``FOR NO KEY UPDATE`` on PostgreSQL, in id order) before
    anything is read from them or from the hooks' tables.

    A job that writes a copy derived from a recording (the pre-wake trim's new audio, a disguised
    rendition, an export's clip key) locks the recording's row before its check and holds it to its
    commit: the deletion then waits for that commit and sees the copy (its blob is on the receipt),
    or the job waits for the deletion and finds the row gone. On SQLite both hold the write lock.
    """
    found: list[Any] = []
    for chunk in batched(sorted(set(recording_ids))):
        found += session.execute(
            select(
                Recording.id, Recording.audio_blob, Recording.device_id, Recording.idempotency_key
            )
            .where(Recording.household_id == household_id, Recording.id.in_(chunk))
            .order_by(Recording.id)
            .with_for_update(key_share=True)
        ).all()
    return found


def hold_against_deletion(session: Session, recording_ids: Iterable[str]) -> set[str]:
    """Of ``recording_ids``, those not deleted, held (``FOR SHARE`` on PostgreSQL, in id order)
    until this transaction ends: a deletion of one of them waits for this commit and then sees
    what the transaction derived from it (an export's membership, for instance), or it committed
    first and the recording is left out. For a job that copies many recordings in one transaction;
    on SQLite the write lock already keeps deletions out."""
    held: set[str] = set()
    for chunk in batched(sorted(set(recording_ids))):
        held.update(
            session.scalars(
                select(Recording.id)
                .where(Recording.id.in_(chunk))
                .order_by(Recording.id)
                .with_for_update(read=True)
            )
        )
    return held


def _purge_rows(session: Session, ids: list[str]) -> dict[str, int]:
    counts: Counter[str] = Counter({"derived_texts": 0})
    for chunk in batched(ids):
        counts["derived_texts"] += int(
            session.scalar(
                select(func.count())
                .select_from(SealedText)
                .where(SealedText.recording_id.in_(chunk))
            )
            or 0
        )
        for hook in DELETION_HOOKS:
            counts.update(hook(session, chunk))
        session.execute(delete(SealedText).where(SealedText.recording_id.in_(chunk)))
        session.execute(delete(Job).where(Job.subject.in_(chunk)))
        session.execute(delete(Recording).where(Recording.id.in_(chunk)))
    return dict(counts)


def _body(
    household_id: str,
    ids: list[str],
    actor: str,
    scope: dict[str, Any],
    when: datetime,
    counts: dict[str, int],
    key_destroyed: bool,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    more = {k: v for k, v in (extra or {}).items() if k != "counts"}
    listed = sorted(ids)
    return {
        "format": RECEIPT_FORMAT,
        "receipt_id": uuid.uuid4().hex,
        "household_id": household_id,
        "actor": actor,
        "scope": scope,
        "at": when.isoformat(),
        "counts": counts,
        "destroyed": sorted(k for k, v in counts.items() if v),
        "household_key_destroyed": key_destroyed,
        "recordings_sha256": hashlib.sha256("\n".join(listed).encode()).hexdigest(),
        "recording_ids": listed if len(listed) <= LISTED_IDS_MAX else None,
        "backups": BACKUPS_SCOPED,
        **more,
    }


def _issue(session: Session, platform: Platform, body: dict[str, Any], rows: list[Any]) -> Receipt:
    signed = sign_receipt(platform.audit_signer, body)
    receipt_id, household_id = body["receipt_id"], body["household_id"]
    when = datetime.fromisoformat(body["at"])
    session.add(
        DeletionReceipt(
            id=receipt_id, household_id=household_id, actor=body["actor"], at=when, body=signed
        )
    )
    session.flush()
    session.add_all(
        Tombstone(
            recording_id=r.id,
            household_id=household_id,
            receipt_id=receipt_id,
            deleted_at=when,
            device_id=r.device_id,
            idempotency_key=r.idempotency_key,
        )
        for r in rows
    )
    audit.append(
        session,
        actor=body["actor"],
        action="recordings.delete",
        subject=receipt_id,
        household_id=household_id,
        reason=body["scope"].get("kind"),
        now=when,
        details={
            "counts": body["counts"],
            "key_destroyed": body["household_key_destroyed"],
            "copies_to_remove": body["copies_to_remove"],
        },
    )
    return Receipt(receipt_id, signed)


def delete_range(
    platform: Platform,
    household_id: str,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    now: datetime | None = None,
) -> Receipt:
    """Delete the household's recordings captured in ``[start, end)``."""
    with platform.sessions() as session:
        ids = list(
            session.scalars(
                select(Recording.id).where(
                    Recording.household_id == household_id,
                    Recording.captured_at >= start,
                    Recording.captured_at < end,
                )
            )
        )
    scope = {"kind": "range", "from": start.isoformat(), "to": end.isoformat()}
    return delete_recordings(
        platform, household_id, ids, actor=actor, scope=scope, now=now, span=(start, end)
    )


def last_said(session: Session, command: Recording, window_s: float) -> list[str]:
    """What "delete what I just said" names: the command and its device's previous recording
    captured within ``window_s`` before it."""
    since = command.captured_at - timedelta(seconds=window_s)
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
    return [command.id] + ([previous] if previous else [])


def said_today(session: Session, command: Recording) -> tuple[datetime, datetime, list[str]]:
    """What "delete everything I said today" names: the command's day in the household's time
    zone (``[start, end)``), and the household's recordings captured in it (with the command).

    The day ends at the next local midnight, not when the deletion runs: a command said late in
    the evening and carried out after midnight (an offline device, the undo period, a slow queue)
    leaves the next day alone."""
    household = session.get(Household, command.household_id)
    since, until = local_day(command.captured_at, household.timezone if household else "UTC")
    ids = session.scalars(
        select(Recording.id).where(
            Recording.household_id == command.household_id,
            Recording.captured_at >= since,
            Recording.captured_at < until,
        )
    )
    return since, until, sorted(set(ids) | {command.id})


def delete_last(
    platform: Platform, command: Recording, *, window_s: float, now: datetime | None = None
) -> Receipt:
    """ "Delete what I just said": the device's previous recording within the window, and the command."""
    since = command.captured_at - timedelta(seconds=window_s)
    with platform.sessions() as session:
        ids = last_said(session, command, window_s)
    scope = {"kind": "voice_last", "command": command.id, "since": since.isoformat()}
    return delete_recordings(
        platform, command.household_id, ids, actor=command.device_id, scope=scope, now=now
    )


def local_midnight(when: datetime, tz_name: str) -> datetime:
    """The start of ``when``'s day in the household's time zone."""
    local = when.astimezone(ZoneInfo(tz_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def local_day(when: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """``when``'s day in the household's time zone: ``[its midnight, the next midnight)``."""
    start = local_midnight(when, tz_name)
    return start, datetime.combine(start.date() + timedelta(days=1), time.min, start.tzinfo)


def delete_today(platform: Platform, command: Recording, *, now: datetime | None = None) -> Receipt:
    """ "Delete everything I said today": the household's recordings since local midnight."""
    with platform.sessions() as session:
        since, until, ids = said_today(session, command)
    scope = {
        "kind": "voice_today",
        "command": command.id,
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    when = now or utcnow()
    return delete_recordings(
        platform, command.household_id, ids, actor=command.device_id, scope=scope, now=when,
        span=(since, until),
    )  # fmt: skip


def shred_household(
    platform: Platform,
    household_id: str,
    *,
    actor: str,
    now: datetime | None = None,
    handover: KeyHandover | None = None,
) -> Shredding:
    """Destroy the household's data key and start a new generation, in one audited commit.

    ``handover`` re-seals, under the new key, what must outlive the shredding (the identity rows);
    without it those fields become unreadable too. The new key row and what it protects commit
    first; the old key share is erased only after that commit (the old wrapped key is gone from
    the live database with it). A failure, or a process killed, before the commit leaves the
    household as it was; one killed after it leaves a share no row names, which the next sweep
    erases (``keys.sweep_orphan_shares``).
    """
    when = now or utcnow()
    old_share: str | None = None
    # Listed before the new key exists: a blob written after it may be sealed under the new key
    # for an upload whose row is still to commit, and is no stray.
    blobs_before = tuple(_household_blobs(platform, household_id))
    with transaction(platform.sessions) as session:
        # Locked before anything is read or replaced: a second "delete everything" of the
        # household waits for this one and then shreds the generation it made (handing the
        # identity over again), instead of removing its new share and sealing under another key.
        row = session.get(DataKey, household_id, with_for_update=True)
        live = row is not None and row.wrapped is not None
        old_gen = row.generation if row is not None and live else None
        used_share = bool(live and row is not None and row.share_id)
        old_share = row.share_id if row is not None and live else None
        old_key = _live_key(platform, session, household_id) if live else None
        generation = platform.keyring.replace(session, household_id, now=when)
        resealed = 0
        if handover is not None and old_key is not None:
            new_key = platform.keyring.data_key(session, household_id)
            resealed = handover(session, household_id, old_key, new_key)
        ids = list(
            session.scalars(select(Recording.id).where(Recording.household_id == household_id))
        )
        audit.append(
            session,
            actor=actor,
            action="keys.destroy",
            subject=household_id,
            household_id=household_id,
            now=when,
            details={"generation": old_gen, "new_generation": generation, "resealed": resealed},
        )
    # The commit erased the old share (``keys.destroy_after_commit``); one it could not erase
    # (a failing disk) is left to the sweep, and the receipt does not claim it gone.
    shares = platform.keyring.shares
    share_erased = not (old_share and shares is not None and shares.exists(old_share))
    return Shredding(
        household_id, when, live, old_gen, generation, used_share, ids, resealed, share_erased,
        blobs_before,
    )  # fmt: skip


def _live_key(platform: Platform, session: Session, household_id: str) -> bytes | None:
    try:
        return platform.keyring.data_key(session, household_id)
    except KeyUnavailable:
        return None  # a share already gone: nothing left to hand over


def purge_household(platform: Platform, shredding: Shredding, *, actor: str) -> Receipt:
    """After :func:`shred_household`: remove the rows and blobs that were sealed under the old key."""
    hh = shredding.household_id
    strays = _stray_blobs(platform, hh, shredding.blobs_before)
    extra = {
        "counts": {"stray_blobs": len(strays), "identity_fields_resealed": shredding.resealed},
        "key_generation_destroyed": shredding.generation_destroyed,
        "key_generation_now": shredding.new_generation,
        "backups": _backups(shredding),
    }
    return delete_recordings(
        platform,
        hh,
        shredding.recording_ids,
        actor=actor,
        now=shredding.at,
        scope={"kind": "everything"},
        key_destroyed=shredding.destroyed,
        extra=extra,
        extra_blobs=strays,
    )


def _backups(shredding: Shredding) -> str:
    """What the receipt says of backups taken before the deletion."""
    if not shredding.used_share:
        return BACKUPS_WRAPPED_KEY
    return BACKUPS_SHREDDED if shredding.share_erased else BACKUPS_SHARE_PENDING


def _household_blobs(platform: Platform, household_id: str) -> list[str]:
    """Every blob under the household's prefixes."""
    return [
        b.key
        for prefix in HOUSEHOLD_BLOB_PREFIXES
        for b in platform.blobs.list(prefix.format(household_id=household_id))
    ]


def _stray_blobs(platform: Platform, household_id: str, listed: Sequence[str]) -> list[str]:
    """Of the household's blobs ``listed`` before its key was replaced, those no recording row
    refers to (read after the listing, so a row committed meanwhile is seen)."""
    with platform.sessions() as session:
        referenced = set(
            session.scalars(
                select(Recording.audio_blob).where(
                    Recording.household_id == household_id, Recording.audio_blob.is_not(None)
                )
            )
        )
    return [key for key in listed if key not in referenced]


def delete_everything(
    platform: Platform,
    household_id: str,
    *,
    actor: str,
    now: datetime | None = None,
    handover: KeyHandover | None = None,
) -> Receipt:
    """Crypto-shred the household key first (every copy unreadable at once), then purge everything."""
    shredding = shred_household(platform, household_id, actor=actor, now=now, handover=handover)
    return purge_household(platform, shredding, actor=actor)
