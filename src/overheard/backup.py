"""Backup and restore that keep crypto-shredding true.

A backup holds every database row (as tagged JSON lines, table by table) and every sealed blob,
and nothing that opens them: no KEK, no server secrets, no household key shares. Content in it
can only be read again with the live key-share folder, so a household whose share was erased
after the backup (deleted, or moved to a new key generation) stays unreadable after a restore;
``restore`` names those households, removes their restored content rows' blobs, and audits it.
So does a household whose share folder holds a share of a newer generation than its restored key:
a "delete everything" began after the backup, and its old share may outlive the commit (a process
killed before erasing it) until a sweep of the replaced database that a restore can come before.

A household whose key lives on would get back every recording deleted after the backup was taken
(one clip, a range, a voice deletion, a retention expiry): their receipts are rows of the replaced
database. The deletion journal (``overheard.recordings.journal``, next to the key shares, outside
every backup) names them; ``restore`` deletes again, through the one deletion path, every
journalled recording the backup brought back, and reports how many. A deletion whose journal
write failed (logged) is not re-applied: ``RestoreReport.warning`` still names the backup's time
so the operator can check the receipts made since.

The rows commit with a ``backup.restore_started`` audit event; the shredded households are shut
and the journal re-applied after that commit, and ``backup.restore`` says they were. A restore
whose process stopped in between (SIGKILL, a power cut) leaves that event without its end:
:func:`finish_restore`, which ``serve`` and ``worker`` run as they start and a second ``restore``
runs instead of refusing the non-empty database, takes those steps then. Before, the
restored rows stayed as they were, shredded households' keys live and later deletions undone.

Before anything is written, ``restore`` also reads the rows that name blobs (:data:`NAMED_BLOBS`)
and refuses a backup folder missing any blob they name (one written by a version that could miss
a clip's audio, a folder damaged since), naming how many of each kind and the first keys. Asked to
restore anyway (``allow_missing_blobs``, ``overheard restore --allow-missing-blobs``), it leaves a
recording whose audio is missing as a purge of its audio would (``audio_blob`` NULL; one not yet
processed ``failed``, ``audio_purged``), audited ``backup.restore_audio_missing``, and leaves out a
disguised copy that is missing (its row too: the next serve has the copy made again). Before, such
a restore succeeded and the recording failed with ``audio_missing`` only when it was opened.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update

from . import audit, durable
from .db import Base, transaction, utcnow
from .errors import Conflict, DecryptionFailed, NotFound
from .keys import DataKey, KeyShares, destroy_after_commit
from .platform import Platform
from .recordings import journal
from .recordings.deletion import batched, delete_recordings
from .recordings.models import Recording, Status

FORMAT = 1
"""Version of the backup layout."""
BATCH_ROWS = 500
"""Rows inserted per statement on restore."""
SNAPSHOT_ATTEMPTS = 5
"""Snapshots a backup reads its rows in, at most, before it gives up on blobs they name being
removed before they could be copied."""
MISSING_SHOWN = 5
"""Keys of missing blobs a refused restore lists."""


@dataclass(frozen=True)
class NamedBlob:
    """A column whose rows name a blob that a backup holds and a restore needs."""

    table: str
    column: str
    kind: str
    """How audit details and :class:`RestoreReport` name this kind of blob."""
    one: str
    many: str


NAMED_BLOBS = (
    NamedBlob("recordings", "audio_blob", "audio", "recording's audio", "recordings' audio"),
    NamedBlob("disguised_clips", "blob_key", "disguised", "disguised copy", "disguised copies"),
)
"""Every blob a row names: recordings' audio and disguised renditions. (A purge's blob is left
out: it is there only to be deleted.) A backup copies these; a restore refuses to go without
them."""


def blob_kinds(counts: dict[str, int]) -> str:
    """``{"audio": 3, "disguised": 1}`` as "3 recordings' audio, 1 disguised copy"."""
    return ", ".join(
        f"{counts[n.kind]} {n.one if counts[n.kind] == 1 else n.many}"
        for n in NAMED_BLOBS
        if counts.get(n.kind)
    )


@dataclass(frozen=True)
class RestoreReport:
    """What a restore brought back, and which households stayed shredded."""

    rows: int
    blobs: int
    shredded_households: list[str]
    taken_at: str | None = None
    """When the backup was taken (ISO 8601, from its manifest)."""
    live_households: int = 0
    """Restored households whose key lives on (deletions of their clips after ``taken_at`` would be
    undone but for the journal)."""
    reapplied: int | None = None
    """Recordings deleted again from the deletion journal; None when there is no journal (no local
    key-share folder), so later deletions stay undone."""
    resumed: bool = False
    """Whether this finished a restore whose process had stopped after its rows committed."""
    missing_blobs: dict[str, int] = field(default_factory=dict)
    """Blobs the backup's rows name that its folder lacked, per kind (``NamedBlob.kind``): only a
    restore allowed to go without them gets this far."""
    without_audio: list[str] = field(default_factory=list)
    """Recordings restored without their audio (missing from the backup), as if it was purged."""

    @property
    def missing(self) -> str | None:
        """What the restore went without, if anything."""
        if not self.missing_blobs:
            return None
        total = sum(self.missing_blobs.values())
        blobs = "1 blob" if total == 1 else f"{total} blobs"
        said = f"restored without {blobs} the backup's rows name ({blob_kinds(self.missing_blobs)})"
        if self.without_audio:
            which = "recording" if len(self.without_audio) == 1 else "recordings"
            have = "has" if len(self.without_audio) == 1 else "have"
            said += (
                f": {which} {_first(self.without_audio)} {have} no audio, "
                "as if it had been purged (audited backup.restore_audio_missing)"
            )
        if self.missing_blobs.get("disguised"):
            said += "; a missing disguised copy is made again from its audio when next served"
        return said

    @property
    def warning(self) -> str | None:
        """What the operator must do about deletions made after the backup, if any may be undone."""
        if not self.live_households:
            return None
        if self.reapplied is None:
            return (
                f"{self.live_households} households kept their keys: any recording of theirs deleted "
                f"after {self.taken_at} (one clip, a range, a voice deletion) other than by 'delete "
                "everything' is back and readable, and there is no deletion journal to re-apply; "
                "re-apply those deletions (docs/operations.md)"
            )
        return (
            f"{self.reapplied} recordings deleted after {self.taken_at} were deleted again from the "
            f"deletion journal ({self.live_households} households kept their keys); a deletion "
            "whose journal line could not be written (it was logged) is not among them: check "
            "the receipts issued since (docs/operations.md)"
        )


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
    return value


def _tables() -> list[Table]:
    from . import schema  # noqa: F401 - every model module registers its tables

    return [t for t in Base.metadata.sorted_tables if t.name != "alembic_version"]


def write_backup(platform: Platform, out: Path) -> dict[str, int]:
    """Write rows and sealed blobs to the new directory ``out``; counts per table and blobs.

    The rows are read in one snapshot. A blob can be removed after that snapshot while a row in it
    still names it (the pipeline keeps only the request of a clip and purges the received audio; a
    rendition is replaced), so every blob is copied *before* the snapshot too; the ones written in
    between are copied after it. A blob written after the copy before and removed before the copy
    after (an upload trimmed meanwhile) is in neither: the rows are then read again, in a new
    snapshot, once the blobs written since are copied, until every blob a snapshot names was
    copied (:class:`~overheard.errors.Conflict` after ``SNAPSHOT_ATTEMPTS``). A copy no row of the
    last snapshot names is removed again (it belongs to a recording deleted meanwhile, or is an
    orphan). The manifest is written last: a folder without one is an unfinished backup.
    """
    out.mkdir(parents=True, exist_ok=False, mode=0o700)
    (out / "tables").mkdir()
    folder = out / "blobs"
    copied: set[str] = set()
    for _ in range(SNAPSHOT_ATTEMPTS):
        listed = (i.key for i in platform.blobs.list("") if i.key not in copied)
        copied |= {key for key in listed if _copy_blob_out(platform, folder, key)}
        counts, named = _write_rows(platform, out / "tables")
        copied |= {key for key in named - copied if _copy_blob_out(platform, folder, key)}
        if named <= copied:
            break
    else:
        raise Conflict(
            f"{len(named - copied)} blobs the rows name were removed before they could be copied, "
            f"in each of {SNAPSHOT_ATTEMPTS} snapshots; run the backup again into a new folder"
        )
    for key in copied - named:
        (folder / key).unlink()
    counts["blobs"] = len(named)
    _sync_tree(out)
    manifest = {"format": FORMAT, "taken_at": utcnow().isoformat(), "counts": counts}
    durable.replace(out / "manifest.json", json.dumps(manifest, indent=2).encode(), mode=0o600)
    _sync_tree(out, recurse=False)
    return counts


def _write_rows(platform: Platform, tables: Path) -> tuple[dict[str, int], set[str]]:
    """Write every table's rows, read in one snapshot, into ``tables`` (over an earlier attempt's);
    counts per table, and the blob keys the rows name."""
    counts: dict[str, int] = {}
    with platform.readers() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        for table in _tables():
            with (tables / f"{table.name}.jsonl").open("w") as fh:
                counts[table.name] = 0
                for row in session.execute(select(table)).mappings():
                    fh.write(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n")
                    counts[table.name] += 1
                fh.flush()
                os.fsync(fh.fileno())
        return counts, _named_blobs(session)


def _named_blobs(session: Any) -> set[str]:
    """Every blob key a row names (:data:`NAMED_BLOBS`)."""
    tables = {t.name: t for t in _tables()}
    named: set[str] = set()
    for spec in NAMED_BLOBS:
        column = tables[spec.table].c[spec.column]
        named.update(session.scalars(select(column).where(column.is_not(None))))
    return named


def _copy_blob_out(platform: Platform, folder: Path, key: str) -> bool:
    """Copy one blob into the backup (mode 0600, synced); False when it is gone already."""
    try:
        data = platform.blobs.get(key)
    except NotFound:
        return False
    target = folder / key
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    durable.replace(target, data, mode=0o600)
    return True


def _sync_tree(root: Path, *, recurse: bool = True) -> None:
    """Make every name written under ``root`` survive a power cut (the files are synced already)."""
    folders = [folder for folder, _dirs, _files in os.walk(root)] if recurse else [str(root)]
    for folder in folders:
        durable.sync_dir(Path(folder))


STARTED = "backup.restore_started"
"""Audit action committed with the restored rows; ``FINISHED`` follows once the restore's later
steps ran."""
FINISHED = "backup.restore"
SHREDDED = "backup.restore_shredded"
"""Audit action: a restored household's key was shut (its subject)."""
AUDIO_MISSING = "backup.restore_audio_missing"
"""Audit action: a recording (its subject) was restored without its audio, missing from the backup
(a restore allowed to go without missing blobs); committed with the rows, after ``STARTED``."""
MISSING_REASON = "missing_from_backup"
WITHDRAWN_BECAUSE = "audio_missing"
"""Why the open review tasks of a recording restored with neither audio nor disguised copy (nothing
left to serve) were withdrawn."""


def restore_backup(
    platform: Platform,
    source: Path,
    *,
    actor: str = "cli",
    allow_missing_blobs: bool = False,
) -> RestoreReport:
    """Load a backup into an empty database and blob store, then keep shredded households shut.

    A database that holds only an unfinished restore (its process stopped after the rows
    committed) is not refused: that restore is finished instead (:func:`finish_restore`).

    A backup folder missing a blob its rows name is refused before anything is written, unless
    ``allow_missing_blobs``: then a recording whose audio is missing is restored as if its audio
    had been purged and a missing disguised copy is left out (:func:`_without_missing`)."""
    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise Conflict(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    resumed = finish_restore(platform, actor=actor)
    if resumed is not None:
        return resumed
    rows = 0
    with platform.sessions() as session:
        _refuse_non_empty(session)
    counts = manifest.get("counts", {})
    _refuse_incomplete(source, {k: v for k, v in counts.items() if k != "blobs"})
    missing = _missing_blobs(source)
    if missing and not allow_missing_blobs:
        raise Conflict(_missing_message(missing))
    if not allow_missing_blobs:
        _refuse_incomplete(source, {k: v for k, v in counts.items() if k == "blobs"})
    _refuse_keys_that_cannot_open(platform, source / "tables" / f"{DataKey.__tablename__}.jsonl")
    # Blobs before rows: a copy that fails leaves the database empty, so the restore can be run
    # again; rows committed first would bring back, with a live key and the journal not yet
    # re-applied, what was deleted after the backup, and refuse a second run.
    blobs = _copy_blobs_in(platform, source / "blobs")
    taken_at = manifest.get("taken_at")
    gone = {kind: set(keys) for kind, keys in missing.items()}
    lost = {kind: len(keys) for kind, keys in missing.items()}
    without_audio: list[tuple[str, str]] = []
    with transaction(platform.sessions) as session:
        _refuse_non_empty(session)
        for table in _tables():
            for batch in _batches(source / "tables" / f"{table.name}.jsonl"):
                kept = _without_missing(table.name, batch, gone, without_audio) if gone else batch
                if kept:
                    session.execute(insert(table), kept)
                    rows += len(kept)
        _reset_sequences(session)
        details = {"taken_at": taken_at, "rows": rows, "blobs": blobs, "missing_blobs": lost}
        audit.append(session, actor=actor, action=STARTED, details=details)
        _left_without_audio(session, actor, taken_at, without_audio)
    return _finish(
        platform, actor, taken_at, rows, blobs,
        missing_blobs=lost, without_audio=[rid for rid, _household in without_audio],
    )  # fmt: skip


def finish_restore(platform: Platform, *, actor: str = "system:restore") -> RestoreReport | None:
    """Shut the shredded households and re-apply the deletion journal for a restore whose rows
    committed but whose process stopped before it had; None when no restore is unfinished."""
    with platform.sessions() as session:
        started = _unfinished(session)
        if started is None:
            return None
        shut_before = list(  # by the stopped process, after the rows' commit
            session.scalars(
                select(audit.AuditEvent.subject).where(
                    audit.AuditEvent.action == SHREDDED, audit.AuditEvent.seq > started.seq
                )
            )
        )
        without_audio = list(  # committed with the rows
            session.scalars(
                select(audit.AuditEvent.subject)
                .where(audit.AuditEvent.action == AUDIO_MISSING, audit.AuditEvent.seq > started.seq)
                .order_by(audit.AuditEvent.seq)
            )
        )
    details = started.details or {}
    return _finish(
        platform,
        actor,
        details.get("taken_at"),
        int(details.get("rows", 0)),
        int(details.get("blobs", 0)),
        shut_before=[str(h) for h in shut_before],
        missing_blobs={str(k): int(v) for k, v in (details.get("missing_blobs") or {}).items()},
        without_audio=[str(r) for r in without_audio],
    )


def _unfinished(session: Any) -> audit.AuditEvent | None:
    """The newest ``backup.restore_started`` event when no ``backup.restore`` follows it."""
    started = session.scalars(
        select(audit.AuditEvent)
        .where(audit.AuditEvent.action == STARTED)
        .order_by(audit.AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if started is None:
        return None
    done = session.scalar(
        select(audit.AuditEvent.seq)
        .where(audit.AuditEvent.action == FINISHED, audit.AuditEvent.seq > started.seq)
        .limit(1)
    )
    return started if done is None else None


def _finish(
    platform: Platform,
    actor: str,
    taken_at: str | None,
    rows: int,
    blobs: int,
    *,
    shut_before: list[str] | None = None,
    missing_blobs: dict[str, int] | None = None,
    without_audio: list[str] | None = None,
) -> RestoreReport:
    """The steps after the rows' commit; each may be run again (a shut key has no wrapped key
    left, a recording deleted again is no longer there). ``shut_before``: households an earlier,
    stopped run of these steps shut (None: this is the first run). ``missing_blobs`` and
    ``without_audio``: what the rows' commit went without (reported, audited again)."""
    resumed = shut_before is not None
    manifest = {"taken_at": taken_at}
    shredded, live = _shut_shredded(platform, actor, manifest)
    shredded = sorted({*(shut_before or []), *shredded})
    reapplied = _reapply_deletions(platform, actor, manifest, set(shredded))
    with transaction(platform.sessions) as session:
        audit.append(
            session,
            actor=actor,
            action=FINISHED,
            details={
                "shredded_households": len(shredded),
                "live_households": live,
                "later_deletions_reapplied": reapplied is not None,
                "reapplied_recordings": reapplied or 0,
                "taken_at": taken_at,
                "resumed": resumed,
                "missing_blobs": missing_blobs or {},
            },
        )
    return RestoreReport(
        rows, blobs, shredded, taken_at, live, reapplied, resumed,
        dict(missing_blobs or {}), list(without_audio or []),
    )  # fmt: skip


def _reapply_deletions(
    platform: Platform, actor: str, manifest: dict[str, Any], shredded: set[str]
) -> int | None:
    """Delete again every journalled recording the backup brought back (households whose key
    lives on), one receipt per household; how many, or None without a journal."""
    if journal.journal_path(platform) is None:
        return None
    count = 0
    for household_id, ids in sorted(journal.read(platform).items()):
        if household_id in shredded:
            continue  # its key share is gone: nothing of it opens again
        with platform.sessions() as session:
            present = [
                rid
                for chunk in batched(sorted(ids))
                for rid in session.scalars(
                    select(Recording.id).where(
                        Recording.household_id == household_id, Recording.id.in_(chunk)
                    )
                )
            ]
        if not present:
            continue
        receipt = delete_recordings(
            platform,
            household_id,
            present,
            actor=actor,
            scope={"kind": "restore_reapply", "backup_taken_at": manifest.get("taken_at")},
            journalled=False,
        )
        count += receipt.body["counts"]["recordings"]
    return count


def _refuse_non_empty(session: Any) -> None:
    for table in _tables():
        if session.scalar(select(func.count()).select_from(table)):
            raise Conflict(f"restore needs an empty database; table {table.name} has rows")


def _refuse_incomplete(source: Path, counts: dict[str, int]) -> None:
    """Refuse, before anything is written, a backup folder that holds fewer rows of a table or
    fewer blobs than its manifest counts (a copy of it cut short): the restore would succeed
    without them, leaving recordings whose audio is gone, or blobs no row names."""
    for name, expected in counts.items():
        found = _stored(source, name)
        if found < expected:
            raise Conflict(
                f"the backup is incomplete: it holds {found} of the {expected} {name} its "
                "manifest counts; nothing was restored"
            )


def _missing_blobs(source: Path) -> dict[str, list[str]]:
    """Per kind (``NamedBlob.kind``), the keys the backup's rows name that its blobs folder does
    not hold, in the rows' order (a kind with none left out). Read from the backup's tables before
    anything is written; a key naming a file outside the folder (``..``) counts as missing."""
    folder = source / "blobs"
    held = set(_blob_files(folder))
    missing: dict[str, list[str]] = {}
    for spec in NAMED_BLOBS:
        path = source / "tables" / f"{spec.table}.jsonl"
        for batch in _batches(path):
            for row in batch:
                key = row.get(spec.column)
                if key is not None and key not in held:
                    missing.setdefault(spec.kind, []).append(key)
    return missing


def _first(keys: list[str]) -> str:
    """The first ``MISSING_SHOWN`` of ``keys``, and how many more."""
    more = len(keys) - MISSING_SHOWN
    return ", ".join(keys[:MISSING_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _missing_message(missing: dict[str, list[str]]) -> str:
    """The refusal of a backup folder missing blobs its rows name: how many, of which kinds, the
    first keys, and how to restore anyway."""
    keys = [key for spec in NAMED_BLOBS for key in missing.get(spec.kind, [])]
    total = len(keys)
    kinds = blob_kinds({kind: len(found) for kind, found in missing.items()})
    blobs = "1 blob its rows name is" if total == 1 else f"{total} blobs its rows name are"
    return (
        f"the backup is incomplete: {blobs} not in its blobs folder ({kinds}): {_first(keys)}; "
        "nothing was restored. Restore from an intact copy of the backup, or run the restore "
        "again with --allow-missing-blobs to restore without them: a recording whose audio is "
        "missing then has none, as if it had been purged, and a missing disguised copy is made "
        "again from its audio"
    )


def _without_missing(
    table: str,
    batch: list[dict[str, Any]],
    gone: dict[str, set[str]],
    without_audio: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    """``batch`` of ``table`` with no row naming a blob of ``gone`` (keys per kind).

    A recording whose audio is gone is left as a purge of its audio leaves it: ``audio_blob``
    NULL, which every reader already takes for "no audio" (the content gate answers
    ``audio_purged``, the dashboard offers no playback, exports and renditions skip it); one not
    yet processed becomes ``failed``, ``audio_purged``, like a failed recording whose audio was
    purged, so that its job ends instead of waiting on it for ever. It is added to
    ``without_audio`` (id, household). A disguised copy that is gone loses its row: a serve that
    finds no row has the copy made again, one that found the row would wait on the blob for ever.
    """
    if table == "recordings" and gone.get("audio"):
        from .speech.pipeline import AUDIO_PURGED, UNPROCESSED

        kept = []
        for row in batch:
            if row.get("audio_blob") in gone["audio"]:
                row = {**row, "audio_blob": None}
                if row.get("status") in UNPROCESSED:
                    row.update(status=Status.FAILED.value, status_reason=AUDIO_PURGED)
                without_audio.append((row["id"], row["household_id"]))
            kept.append(row)
        return kept
    if table == "disguised_clips" and gone.get("disguised"):
        return [row for row in batch if row.get("blob_key") not in gone["disguised"]]
    return batch


def _left_without_audio(
    session: Any, actor: str, taken_at: str | None, recordings: list[tuple[str, str]]
) -> None:
    """Audit each recording restored without its audio (in its household's log), and withdraw the
    open review of those left with no disguised copy either: nothing is left to serve."""
    from .protect._tables import DisguisedClip
    from .review._tasks import withdraw_recordings

    for recording_id, household_id in recordings:
        audit.append(
            session,
            actor=actor,
            action=AUDIO_MISSING,
            subject=recording_id,
            household_id=household_id,
            reason=MISSING_REASON,
            details={"backup_taken_at": taken_at},
            flush=False,
        )
    for chunk in batched([recording_id for recording_id, _household in recordings]):
        served = set(
            session.scalars(
                select(DisguisedClip.recording_id).where(DisguisedClip.recording_id.in_(chunk))
            )
        )
        withdraw_recordings(session, [r for r in chunk if r not in served], WITHDRAWN_BECAUSE)
    session.flush()


def _stored(source: Path, name: str) -> int:
    """How many blobs (``name`` "blobs") or rows of table ``name`` the backup folder holds."""
    if name == "blobs":
        return len(_blob_files(source / "blobs"))
    path = source / "tables" / f"{name}.jsonl"
    if not path.exists():
        return 0
    with path.open() as fh:
        return sum(1 for _ in fh)


def _refuse_keys_that_cannot_open(platform: Platform, data_keys: Path) -> None:
    """Refuse, before anything is written, a restore that would shut every household for want
    of the keys that open the backup: a key-encryption key its data keys do not unwrap under
    (another deployment's; one key tried per KEK version they name), or a key-share folder holding no share of any of its households
    (one not set up, or not the live one). Every household would otherwise be shut for good in
    the restored database, its keys destroyed as if its owners had deleted everything."""
    live = [row for batch in _batches(data_keys) for row in batch if row.get("wrapped")]
    if not all(_unwraps(platform, wrapped) for wrapped in _one_per_version(platform, live)):
        raise Conflict(
            "the backup's data keys do not unwrap under this deployment's key-encryption key: "
            "restore with the KEK the backup was taken under; nothing was restored"
        )
    shared = {r["household_id"] for r in live if r.get("share_id")}
    shares = platform.keyring.shares
    on_disk = {household for _s, household, _g, _m in shares.names()} if shares else set()
    if shared and not shared & on_disk:
        raise Conflict(
            f"no key share of any of the backup's {len(shared)} households is in this "
            "deployment's key-share folder (key_share_dir): point it at the live key-share "
            "folder; nothing was restored"
        )


def _one_per_version(platform: Platform, keys: list[dict[str, Any]]) -> list[bytes]:
    """One wrapped key of ``keys`` per KEK version they name (a key naming none stands alone)."""
    picked: dict[str, bytes] = {}
    for row in keys:
        try:
            version = platform.keyring.kek.wrapped_version(row["wrapped"])
        except DecryptionFailed:
            version = f"unnamed {len(picked)}"
        picked.setdefault(version, row["wrapped"])
    return list(picked.values())


def _unwraps(platform: Platform, wrapped: bytes) -> bool:
    try:
        platform.keyring.kek.unwrap(wrapped)
    except DecryptionFailed:
        return False
    return True


def _batches(path: Path) -> Iterator[list[dict[str, Any]]]:
    if not path.exists():
        return
    batch: list[dict[str, Any]] = []
    with path.open() as fh:
        for line in fh:
            batch.append({k: _decode(v) for k, v in json.loads(line).items()})
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


def _reset_sequences(session: Any) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                top = func.coalesce(select(func.max(column)).scalar_subquery(), 0)
                session.execute(select(func.setval(sequence, top + 1, False)))


def _blob_files(folder: Path) -> dict[str, Path]:
    """A backup's blob files by blob key (their path under ``folder``), in key order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p for p in files}


def _copy_blobs_in(platform: Platform, folder: Path) -> int:
    count = 0
    for key, path in _blob_files(folder).items():
        platform.blobs.put(key, path.read_bytes())
        count += 1
    return count


def _shut_shredded(
    platform: Platform, actor: str, manifest: dict[str, Any]
) -> tuple[list[str], int]:
    """Households whose restored key must stay shut: destroy the restored wrapped key, audit it,
    erase its share once that commits. Also how many restored households kept their key (their
    later deletions are undone)."""
    shares = platform.keyring.shares
    newest = _newest_generations(shares)
    with transaction(platform.sessions) as session:
        keys = session.scalars(select(DataKey).where(DataKey.wrapped.is_not(None))).all()
        shut = [(k, reason) for k in keys if (reason := _why_shut(k, shares, newest))]
        for key, reason in shut:
            if key.share_id is not None and shares is not None:
                destroy_after_commit(session, shares, key.share_id)
            session.execute(
                update(DataKey)
                .where(DataKey.household_id == key.household_id)
                .values(wrapped=None, destroyed_at=utcnow())
            )
            audit.append(
                session,
                actor=actor,
                action=SHREDDED,
                subject=key.household_id,
                household_id=key.household_id,
                details={"backup_taken_at": manifest.get("taken_at"), "reason": reason},
            )
    return [k.household_id for k, _ in shut], len(keys) - len(shut)


def _newest_generations(shares: KeyShares | None) -> dict[str, int]:
    """The newest key generation of each household the live share folder holds a share of."""
    newest: dict[str, int] = {}
    for _share, household_id, generation, _modified in shares.names() if shares else []:
        newest[household_id] = max(generation, newest.get(household_id, 0))
    return newest


def _why_shut(key: DataKey, shares: KeyShares | None, newest: dict[str, int]) -> str | None:
    """Why a restored live key must stay shut, or None when it may open again.

    ``replaced_after_backup``: a share of a newer generation exists, so a "delete everything"
    began after the backup. Its old share is erased only after its commit, so a process killed in
    between leaves that share on disk until a sweep of the live database, which a restore may
    come before. Whether it committed only the replaced database knew: the household is shut
    either way (its owner asked for the deletion).
    """
    if newest.get(key.household_id, 0) > key.generation:
        return "replaced_after_backup"
    if key.share_id and (shares is None or not shares.exists(key.share_id)):
        return "share_erased"
    return None
