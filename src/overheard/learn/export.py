"""Dataset export of reviewed data, with a lineage manifest.

* :func:`export_sealed` — the default: one shard per household, sealed under its data key, plus
  ``manifest.json``. No plaintext is written.
* :func:`open_for_training` — ``overheard export --for-training``: opens the shards (audited per
  shard) into a training run's folder and writes the dataset layouts there, leaving out every clip
  deleted since the export (its clip key is gone), every shard whose household key was destroyed,
  and every clip that is no longer reviewed data (its household turned review off, it was flagged
  ``sensitive`` or excluded since: ``reviewed_clips``).
* :func:`export_plaintext` — the layouts in plaintext, only for a privacy officer, audited.

Removals are tracked in ``learn_export_members`` (the database is the truth); each opening also
writes ``removals.jsonl`` beside the manifest, listing the recordings removed so far.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, durable, purges
from ..accounts.models import Role
from ..accounts.service import get_staff
from ..db import transaction, utcnow
from ..errors import BadRequest, DecryptionFailed, Forbidden, KeyUnavailable, NotFound
from ..platform import Platform
from ..recordings.deletion import hold_against_deletion
from ..recordings.models import Recording
from ..review.consent import hold_consent
from ..speech.audio import to_wav_bytes
from . import _sealing, working
from .alignment import aligned_words
from .formats import Row, write_formats
from .models import Export, ExportMember, SplitName
from .registry import lineage_digest
from .reviewed import Example, open_labels, reviewed_clips
from .split import HELDOUT_PERCENT, assign_splits

MANIFEST = "manifest.json"
REMOVALS = "removals.jsonl"
MANIFEST_FORMAT = "overheard-dataset/1"
ALL_FORMATS = ("hf", "nemo", "kaldi", "labelstudio")
SPLITS = ("train", "heldout", "all")
PLAINTEXT_ROLES = frozenset({Role.PRIVACY_OFFICER.value})


@dataclass(frozen=True)
class ExportSummary:
    """What an export or an opening wrote."""

    export_id: str
    dataset_version: str
    location: Path
    clips: int
    skipped: dict[str, int]


def _new_export_id() -> str:
    return "ex_" + secrets.token_hex(6)


def _selected(
    session: Session, platform: Platform, split: str, heldout_percent: int, actor: str, purpose: str
) -> list[Example]:
    if split not in SPLITS:
        raise BadRequest(f"split must be one of {SPLITS}", code="bad_split")
    clips = reviewed_clips(session, with_audio=True)
    # Held until the export commits: a deletion meanwhile waits and then erases the clip keys
    # this export gives them, or it went first and they are left out.
    held = hold_against_deletion(session, (c.recording_id for c in clips))
    clips = [c for c in clips if c.recording_id in held]
    sides = assign_splits(
        session, ((c.recording_id, c.household_id) for c in clips), heldout_percent=heldout_percent
    )
    chosen = [c for c in clips if split == "all" or sides[c.recording_id] is SplitName(split)]
    return open_labels(session, platform.gate, chosen, actor=actor, purpose=purpose)


def _speakers(examples: Sequence[Example]) -> dict[str, str]:
    households = sorted({e.clip.household_id for e in examples})
    return {hh: f"spk{i + 1:03d}" for i, hh in enumerate(households)}


def _wav(
    platform: Platform, session: Session, recording_id: str, actor: str, purpose: str
) -> bytes:
    import numpy as np

    rec = session.get_one(Recording, recording_id)
    pcm = platform.gate.open_audio(session, rec, actor=actor, purpose=purpose)
    return to_wav_bytes(np.frombuffer(pcm, dtype=np.int16))


def _alignment(
    platform: Platform, session: Session, e: Example, actor: str, purpose: str
) -> tuple[dict[str, Any], ...]:
    """The label's word alignments from the sealed hypothesis (opened through the gate)."""
    rec = session.get_one(Recording, e.clip.recording_id)
    raw = platform.gate.open_text(session, rec, "hypothesis", actor=actor, purpose=purpose)
    return aligned_words(e.transcript, raw)


def _manifest(
    export: Export, members: list[dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "export_id": export.id,
        "dataset_version": export.dataset_version,
        "created_at": export.created_at.isoformat(),
        "mode": export.mode,
        "split": export.split,
        "actor": export.actor,
        "clips": export.clips,
        "members": members,
        **extra,
    }


def _record_export(
    session: Session,
    examples: Sequence[Example],
    *,
    mode: str,
    split: str,
    location: Path,
    actor: str,
    now: datetime,
) -> Export:
    export = Export(
        id=_new_export_id(),
        created_at=now,
        actor=actor,
        mode=mode,
        split=split,
        location=str(location),
    )
    _set_contents(export, examples)
    session.add(export)
    session.flush()
    return export


def _set_contents(export: Export, examples: Sequence[Example]) -> None:
    digest = lineage_digest((e.clip.recording_id, e.clip.annotation_id) for e in examples)
    export.dataset_version, export.clips = f"{export.id}@{digest[:12]}", len(examples)


def export_sealed(
    platform: Platform,
    out_dir: Path,
    *,
    split: str = "train",
    actor: str = "cli",
    heldout_percent: int = HELDOUT_PERCENT,
    now: datetime | None = None,
) -> ExportSummary:
    """Write per-household sealed shards and the manifest into ``out_dir``."""
    when = now or utcnow()
    shards = out_dir / "shards"
    shards.mkdir(parents=True, exist_ok=True, mode=0o700)
    if shards.is_symlink():  # the shards would go, and its target be made 0700, wherever it points
        raise BadRequest(
            f"{shards} is a symlink; name a folder of its own", code="unsafe_export_folder"
        )
    with transaction(platform.sessions) as session:
        examples = _selected(session, platform, split, heldout_percent, actor, "export")
        export = _record_export(
            session, examples, mode="sealed", split=split, location=out_dir, actor=actor, now=when
        )
        speakers = _speakers(examples)
        by_household: dict[str, list[Example]] = defaultdict(list)
        for e in examples:
            by_household[e.clip.household_id].append(e)
        shards, members = [], []
        for n, (hh, group) in enumerate(sorted(by_household.items())):
            shard_id = f"{export.id}-{n:03d}"
            shards.append(
                _write_shard(platform, session, export.id, shard_id, hh, group, out_dir, actor)
            )
            members += [_member_line(e, speakers, shard_id) for e in group]
        body = _manifest(export, members, {"shards": shards})
        audit.append(
            session,
            actor=actor,
            action="learn.export",
            subject=export.id,
            details={"mode": "sealed", "clips": len(examples), "shards": len(shards)},
            now=when,
        )
    _write_manifest(out_dir, body)
    working.seal_modes(out_dir)
    return ExportSummary(export.id, export.dataset_version, out_dir, len(examples), {})


def _member_line(e: Example, speakers: dict[str, str], shard_id: str | None) -> dict[str, Any]:
    return {
        "recording_id": e.clip.recording_id,
        "annotation_id": e.clip.annotation_id,
        "utt_id": f"{speakers[e.clip.household_id]}-{e.clip.recording_id}",
        "speaker": speakers[e.clip.household_id],
        "shard_id": shard_id,
    }


def _write_shard(
    platform: Platform,
    session: Session,
    export_id: str,
    shard_id: str,
    household_id: str,
    group: list[Example],
    out_dir: Path,
    actor: str,
) -> dict[str, Any]:
    key = platform.keyring.data_key(session, household_id)
    clips: dict[str, bytes] = {}
    for e in group:
        record = _sealing.clip_record(export_id, e.clip.recording_id)
        payload = _sealing.ClipPayload(
            _wav(platform, session, e.clip.recording_id, actor, "export"),
            e.transcript,
            e.intent,
            e.clip.duration_s,
            _alignment(platform, session, e, actor, "export"),
        )
        clips[e.clip.recording_id], sealed_key = _sealing.seal_clip(key, record, payload)
        session.add(
            ExportMember(
                export_id=export_id,
                recording_id=e.clip.recording_id,
                annotation_id=e.clip.annotation_id,
                household_id=household_id,
                shard_id=shard_id,
                clip_key=sealed_key,
            )
        )
    blob = _sealing.pack_shard(key, shard_id, clips)
    path = out_dir / "shards" / f"{shard_id}.sealed"
    durable.replace(path, blob, mode=working.FILE_MODE)
    session.flush()
    return {
        "shard_id": shard_id,
        "household_id": household_id,
        "clips": len(group),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }


def _write_manifest(folder: Path, body: dict[str, Any]) -> None:
    """The manifest, written last and durably (0600): a folder whose manifest is there holds the
    whole export, synced; one without is an export that did not finish."""
    durable.replace(
        folder / MANIFEST, json.dumps(body, indent=1).encode("utf-8"), mode=working.FILE_MODE
    )


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """The manifest of an export folder."""
    path = export_dir / MANIFEST
    if not path.is_file():
        raise NotFound(f"no {MANIFEST} in {export_dir}", code="export_not_found")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def write_removals(session: Session, export_id: str, export_dir: Path) -> int:
    """Refresh ``removals.jsonl`` beside the manifest; returns how many members were removed."""
    rows = session.execute(
        select(ExportMember.recording_id, ExportMember.removed_at)
        .where(ExportMember.export_id == export_id, ExportMember.removed_at.is_not(None))
        .order_by(ExportMember.recording_id)
    ).all()
    lines = [
        json.dumps({"recording_id": r, "removed_at": at.isoformat(), "why": "recording_deleted"})
        for r, at in rows
    ]
    text = "".join(line + "\n" for line in lines)
    durable.replace(export_dir / REMOVALS, text.encode("utf-8"), mode=working.FILE_MODE)
    return len(rows)


def open_for_training(
    platform: Platform,
    export_dir: Path,
    run_dir: Path,
    *,
    formats: Sequence[str] = ALL_FORMATS,
    actor: str = "system:training",
) -> ExportSummary:
    """Open a sealed export into ``run_dir`` (audio + layouts), leaving out deleted and shredded clips."""
    manifest = read_manifest(export_dir)
    export_id = manifest["export_id"]
    with transaction(platform.sessions) as session:
        if session.get(Export, export_id) is None:
            raise NotFound(f"export {export_id} is not registered here", code="export_not_found")
        copy = working.register(
            session, export_id, run_dir, purpose="training", ttl_s=ttl_s(platform), now=utcnow()
        )
    try:
        summary = _open_into(platform, manifest, export_dir, run_dir, formats, actor)
        working.confirm_live(platform, copy.id)
        return summary
    except BaseException:
        purges.remove_path(run_dir)  # registered, so a failed removal is still found later
        raise


def ttl_s(platform: Platform) -> float:
    """How long a plaintext working copy lives at most, seconds."""
    return platform.settings.learn_working_copy_ttl_s


def _open_into(
    platform: Platform,
    manifest: dict[str, Any],
    export_dir: Path,
    run_dir: Path,
    formats: Sequence[str],
    actor: str,
) -> ExportSummary:
    export_id = manifest["export_id"]
    (run_dir / "audio").mkdir(parents=True, exist_ok=True, mode=0o700)
    skipped = {"deleted": 0, "key_destroyed": 0, "withdrawn": 0}
    rows: list[Row] = []
    with transaction(platform.sessions) as session:
        members = {
            m.recording_id: m
            for m in session.scalars(
                select(ExportMember).where(ExportMember.export_id == export_id)
            )
        }
        lines = {m["recording_id"]: m for m in manifest["members"]}
        usable = _still_usable(session, manifest)
        for shard in manifest["shards"]:
            rows += _open_shard(
                platform,
                session,
                export_dir,
                export_id,
                shard,
                members,
                lines,
                run_dir,
                skipped,
                actor,
                usable,
            )
        skipped["removed_listed"] = write_removals(session, export_id, export_dir)
        audit.append(
            session,
            actor=actor,
            action="learn.export_open",
            subject=export_id,
            details={"clips": len(rows), **skipped},
        )
    write_formats(run_dir, rows, formats)
    opened = {
        **manifest,
        # The sealed manifest names each shard's household to find its key; a plaintext run
        # knows its speakers by per-export alias only.
        "shards": [_without_household(shard) for shard in manifest["shards"]],
        "members": [lines[r.recording_id] for r in rows],
        "opened_clips": len(rows),
        "skipped": skipped,
    }
    _write_manifest(run_dir, opened)
    working.seal_modes(run_dir)
    durable.sync_tree(run_dir)  # a training run reads whole files, even after a power cut
    return ExportSummary(export_id, manifest["dataset_version"], run_dir, len(rows), skipped)


def _without_household(shard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in shard.items() if k != "household_id"}


def _still_usable(session: Session, manifest: dict[str, Any]) -> set[str]:
    """The export's recordings that are still reviewed data (``reviewed_clips``): not those of a
    household that turned review off since, nor a clip excluded or flagged ``sensitive`` since.

    The households' rows are held ``FOR SHARE`` to the commit (PostgreSQL; SQLite holds the write
    lock): turning review off either committed first and is seen here, or waits for this opening.
    """
    for household_id in sorted({shard["household_id"] for shard in manifest["shards"]}):
        hold_consent(session, household_id)
    listed = {m["recording_id"] for m in manifest["members"]}
    return {c.recording_id for c in reviewed_clips(session) if c.recording_id in listed}


def _open_shard(
    platform: Platform,
    session: Session,
    export_dir: Path,
    export_id: str,
    shard: dict[str, Any],
    members: dict[str, ExportMember],
    lines: dict[str, dict[str, Any]],
    run_dir: Path,
    skipped: dict[str, int],
    actor: str,
    usable: set[str],
) -> list[Row]:
    hh, shard_id = shard["household_id"], shard["shard_id"]
    listed = [rid for rid, line in lines.items() if line.get("shard_id") == shard_id]
    gone = {rid for rid in listed if not _openable(members.get(rid))}
    if any(rid not in gone for rid in listed) and not any(rid in usable for rid in listed):
        # Nothing of it may be used any more (its household turned review off, say): the shard
        # is not even opened.
        skipped["deleted"] += len(gone)
        skipped["withdrawn"] += len(listed) - len(gone)
        return []
    sealed = (export_dir / "shards" / f"{shard_id}.sealed").read_bytes()
    try:
        clips = _sealing.open_shard(session, platform.keyring, hh, shard_id, sealed, actor=actor)
    except (KeyUnavailable, DecryptionFailed):
        skipped["key_destroyed"] += int(shard["clips"])
        return []
    rows = []
    for rid, blob in sorted(clips.items()):
        member = members.get(rid)
        if member is None or not _openable(member):
            skipped["deleted"] += 1
            continue
        if rid not in usable:  # left training use since the export: review off, sensitive, …
            skipped["withdrawn"] += 1
            continue
        record = _sealing.clip_record(export_id, rid)
        payload = _sealing.open_clip(session, platform.keyring, hh, record, member.clip_key, blob)
        rows.append(_row(run_dir, lines[rid], payload))
    return rows


def _openable(member: ExportMember | None) -> bool:
    """Whether an export member still has its clip key (a deletion erases it)."""
    return member is not None and member.clip_key is not None and member.removed_at is None


UTT_ID = re.compile(r"spk\d{3,}-[0-9a-f]{1,64}")
"""An utterance id as an export writes it (speaker alias, recording id): a file name and no more."""


def _row(root: Path, line: dict[str, Any], payload: _sealing.ClipPayload) -> Row:
    # The manifest lies in the export's folder: a line edited to name a path outside the run
    # folder (``../``) is refused, not followed.
    if not UTT_ID.fullmatch(str(line.get("utt_id", ""))):
        raise BadRequest("the export's manifest names an utterance id that is no file name")
    audio = f"audio/{line['utt_id']}.wav"
    (root / audio).write_bytes(payload.wav)
    return Row(
        line["utt_id"],
        audio,
        payload.duration_s,
        payload.text,
        payload.intent,
        line["speaker"],
        line["recording_id"],
        line["annotation_id"],
        payload.words,
    )


def require_privacy_officer(session: Session, staff_id: str) -> str:
    """The staff pseudonym of an active privacy officer; Forbidden for anyone else."""
    try:
        staff = get_staff(session, staff_id)
    except NotFound:
        raise Forbidden(
            "a plaintext export needs a privacy officer", code="not_privacy_officer"
        ) from None
    if staff.role not in PLAINTEXT_ROLES or staff.disabled_at is not None:
        raise Forbidden("a plaintext export needs a privacy officer", code="not_privacy_officer")
    return staff.pseudonym


def export_plaintext(
    platform: Platform,
    out_dir: Path,
    *,
    staff_id: str,
    formats: Sequence[str] = ALL_FORMATS,
    split: str = "train",
    heldout_percent: int = HELDOUT_PERCENT,
    now: datetime | None = None,
) -> ExportSummary:
    """Audio and layouts in plaintext, for a privacy officer only; audited with the clip count.

    The folder is a tracked working copy: removed when any of its recordings is deleted.
    """
    registered: list[bool] = []
    try:
        return _write_plaintext(
            platform, out_dir, staff_id, formats, split, heldout_percent, now or utcnow(), registered
        )
    except BaseException:
        if registered:  # only a folder this call registered (and so made) is ever removed
            purges.remove_path(out_dir)
        raise


def _write_plaintext(
    platform: Platform,
    out_dir: Path,
    staff_id: str,
    formats: Sequence[str],
    split: str,
    heldout_percent: int,
    when: datetime,
    registered: list[bool],
) -> ExportSummary:
    # The folder is registered, and that committed, before a byte is written into it: a process
    # killed while it writes leaves a folder that the retention sweep still finds.
    with transaction(platform.sessions) as session:
        actor = require_privacy_officer(session, staff_id)
        export = _record_export(
            session, [], mode="plaintext", split=split, location=out_dir, actor=actor, now=when
        )
        copy = working.register(
            session, export.id, out_dir, purpose="plaintext", ttl_s=ttl_s(platform), now=when
        )
        registered.append(True)
    with transaction(platform.sessions) as session:
        examples = _selected(session, platform, split, heldout_percent, actor, "export.plaintext")
        export = session.get_one(Export, export.id)
        _set_contents(export, examples)
        speakers = _speakers(examples)
        (out_dir / "audio").mkdir(parents=True, exist_ok=True, mode=0o700)
        rows, members = [], []
        for e in examples:
            line = _member_line(e, speakers, None)
            wav = _wav(platform, session, e.clip.recording_id, actor, "export.plaintext")
            rows.append(
                _row(
                    out_dir,
                    line,
                    _sealing.ClipPayload(
                        wav,
                        e.transcript,
                        e.intent,
                        e.clip.duration_s,
                        _alignment(platform, session, e, actor, "export.plaintext"),
                    ),
                )
            )
            members.append(line)
            session.add(
                ExportMember(
                    export_id=export.id,
                    recording_id=e.clip.recording_id,
                    annotation_id=e.clip.annotation_id,
                    household_id=e.clip.household_id,
                )
            )
        audit.append(
            session,
            actor=actor,
            action="learn.export_plaintext",
            subject=export.id,
            details={"clips": len(rows), "formats": list(formats)},
            now=when,
        )
        body = _manifest(export, members, {})
    write_formats(out_dir, rows, formats)
    _write_manifest(out_dir, body)
    working.seal_modes(out_dir)
    durable.sync_tree(out_dir)  # its audio and format files whole on disk, as the manifest is
    working.confirm_live(platform, copy.id)
    return ExportSummary(export.id, export.dataset_version, out_dir, len(rows), {})
