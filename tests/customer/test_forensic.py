"""Forensic deletion: after "delete everything", nothing of the household can be read anywhere.

A household with 200 recordings (audio, transcripts, intents, annotations and a training-export
shard) is deleted. Then the database files (WAL included), the blob store and the export folder
hold none of its transcripts in plaintext; every ciphertext of it that still exists anywhere fails
to open; and a database backup (plus a blob-store copy) taken before the deletion, restored into a
fresh instance under the same key-encryption key, cannot open it either — while the same restored
instance still opens a bystander household's data.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from overheard.config import Settings
from overheard.crypto.aead import open_sealed, seal
from overheard.customer import service
from overheard.db import transaction
from overheard.errors import DecryptionFailed, KeyUnavailable
from overheard.keys import KeyRing, KeyShares
from overheard.platform import Platform
from overheard.recordings import deletion
from overheard.recordings.gate import AUDIO_KIND, ContentGate
from overheard.recordings.models import Recording, SealedText
from overheard.review.content import AnnotationInput, annotation_kind, seal_answer
from overheard.review.models import Annotation, ReviewTask
from tests.accounts.conftest import START
from tests.customer.conftest import add_recording, unique_phrase

pytestmark = pytest.mark.slow
RECORDINGS = 200
ANNOTATED = 40
EXPORT_KIND = "export.transcript"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the scan reads the database files themselves."""
    return f"sqlite:///{tmp_path / 'overheard.db'}"


def annotate(platform, rec: Recording, phrase: str, n: int) -> None:
    with transaction(platform.sessions) as s:
        task = ReviewTask(id=f"t{n:031d}", pseudonym=f"C-{n:012d}", recording_id=rec.id,
                          household_id=rec.household_id, reason="random", state="done",
                          duration_s=rec.duration_s, done_by="R-7f3a", done_at=START)
        s.add(task)
        s.flush()
        s.add(Annotation(id=f"{n:016x}", task_id=task.id, recording_id=rec.id, annotator="R-7f3a",
                         started_at=START, submitted_at=START))
        row = s.get(Recording, rec.id)
        seal_answer(s, platform.gate, row, annotation_kind(f"{n:016x}"),
                    AnnotationInput(transcript=f"annotated {phrase}", intent="note"))


def write_export(platform, household_id: str, recs: dict[str, str], folder: Path) -> Path:
    """A training-export shard: each transcript sealed under the household key, and a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    with platform.sessions() as s:
        key = platform.keyring.data_key(s, household_id)
    lines = [
        json.dumps({"recording_id": rid, "sealed": base64.b64encode(
            seal(key, phrase.encode(), record_id=rid, kind=EXPORT_KIND)).decode()})
        for rid, phrase in recs.items()
    ]
    (folder / "shard-0001.jsonl").write_text("\n".join(lines))
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"recordings": sorted(recs), "removed": []}))
    return manifest


def manifest_hook(manifest: Path):
    """What the export module's hook does: record removed recordings in existing manifests."""

    def hook(session, ids):
        body = json.loads(manifest.read_text())
        removed = sorted(set(body["removed"]) | (set(ids) & set(body["recordings"])))
        manifest.write_text(json.dumps({**body, "removed": removed}))
        return {"export_memberships": len(set(ids) & set(body["recordings"]))}

    return hook


def collect_ciphertexts(platform, household_id: str, export: Path) -> list[tuple[str, str, bytes]]:
    """Every sealed copy of the household: (record id, kind, ciphertext)."""
    out = []
    with platform.sessions() as s:
        rows = s.execute(select(SealedText.recording_id, SealedText.kind, SealedText.sealed)
                         .join(Recording, Recording.id == SealedText.recording_id)
                         .where(Recording.household_id == household_id)).all()
        out += [(r.recording_id, r.kind, r.sealed) for r in rows]
        blobs = s.execute(select(Recording.id, Recording.audio_blob)
                          .where(Recording.household_id == household_id)).all()
    out += [(rid, AUDIO_KIND, platform.blobs.get(key)) for rid, key in blobs]
    for line in (export / "shard-0001.jsonl").read_text().splitlines():
        item = json.loads(line)
        out.append((item["recording_id"], EXPORT_KIND, base64.b64decode(item["sealed"])))
    return out


def backup_database(url: str, target: Path) -> None:
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    dest = sqlite3.connect(target)
    with dest:
        source.backup(dest)
    source.close()
    dest.close()


def fresh_instance(live: Platform, root: Path, db_copy: Path, blob_copy: Path) -> Platform:
    """A new instance on the restored copies, with the same KEK and the live key-share store."""
    root.mkdir()
    settings = Settings(data_dir=root, database_url=f"sqlite:///{db_copy}",
                        blob_url=blob_copy.as_uri(), kek_url=live.settings.kek_url,
                        secrets_path=live.settings.secrets_path).resolved()
    plat = Platform.open(settings)
    plat.keyring = KeyRing(plat.keyring.kek, KeyShares(live.settings.data_dir / "key-shares"))
    plat.gate = ContentGate(plat.keyring, plat.blobs)
    return plat


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()]


def test_forensic_deletion_leaves_nothing_readable(platform, owner, make_owner, tmp_path):
    bystander = make_owner()
    phrases: dict[str, str] = {}
    for i in range(RECORDINGS):
        phrase = unique_phrase(i)
        rec = add_recording(platform, owner.device_id, phrase, seconds=0.1)
        phrases[rec.id] = phrase
        if i < ANNOTATED:
            annotate(platform, rec, phrase, i)
    kept = add_recording(platform, bystander.device_id, "bystander words", seconds=0.1)
    export = platform.settings.data_dir / "exports"
    manifest = write_export(platform, owner.household_id, phrases, export)
    secrets = collect_ciphertexts(platform, owner.household_id, export)
    assert len(secrets) == RECORDINGS * 4 + ANNOTATED
    backup_database(platform.settings.database_url, tmp_path / "backup.db")
    shutil.copytree(platform.settings.data_dir / "blobs", tmp_path / "blob-backup")

    # The restored copies are a working instance before the deletion: the test can see content.
    before = fresh_instance(platform, tmp_path / "before", tmp_path / "backup.db", tmp_path / "blob-backup")
    try:
        with before.sessions() as s:
            rec = s.get(Recording, next(iter(phrases)))
            assert phrases[rec.id] in before.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t")
    finally:
        before.close()
    shutil.copy(tmp_path / "backup.db", tmp_path / "restore.db")

    deletion.DELETION_HOOKS.append(hook := manifest_hook(manifest))
    try:
        receipt = service.delete_all(platform, owner.household_id, "customer:test", START)
    finally:
        deletion.DELETION_HOOKS.remove(hook)
    assert receipt.body["counts"]["recordings"] == RECORDINGS
    assert receipt.body["counts"]["review_annotations"] == ANNOTATED
    assert receipt.body["counts"]["export_memberships"] == RECORDINGS
    assert sorted(json.loads(manifest.read_text())["removed"]) == sorted(phrases)

    # 1. No plaintext anywhere: database (with WAL and shm), blob store, export folder.
    db = Path(platform.settings.database_url.removeprefix("sqlite:///"))
    scanned = files_under(db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
                          platform.settings.data_dir / "blobs", export)
    assert any(p.name.endswith("-wal") for p in scanned)
    blob = b"".join(p.read_bytes() for p in scanned)
    leaked = [p for p in phrases.values() if p.encode() in blob or p.encode("utf-16-le") in blob]
    assert leaked == []
    with platform.sessions() as s:
        assert s.scalars(select(Recording).where(Recording.household_id == owner.household_id)).all() == []
    assert list(platform.blobs.list(f"audio/{owner.household_id}/")) == []

    # 2. Every ciphertext that survives anywhere (export shard, backups) fails under the live key.
    with platform.sessions() as s:
        live_key = platform.keyring.data_key(s, owner.household_id)  # the new generation
    for record_id, kind, sealed in secrets:
        with pytest.raises(DecryptionFailed):
            open_sealed(live_key, sealed, record_id=record_id, kind=kind)

    # 3. The backup restored into a fresh instance under the same KEK still cannot open it.
    restored = fresh_instance(platform, tmp_path / "after", tmp_path / "restore.db", tmp_path / "blob-backup")
    try:
        with restored.sessions() as s:
            rows = s.scalars(select(Recording).where(Recording.household_id == owner.household_id)).all()
            assert len(rows) == RECORDINGS  # the backup does hold the rows and blobs …
            for rec in rows[:20]:
                with pytest.raises(KeyUnavailable):  # … but no key opens them
                    restored.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t")
                with pytest.raises(KeyUnavailable):
                    restored.gate.open_audio(s, rec, actor="t", purpose="t")
            with pytest.raises(KeyUnavailable):
                restored.keyring.data_key(s, owner.household_id)
            other = s.get(Recording, kept.id)
            assert "bystander words" in restored.gate.open_text(s, other, "hypothesis", actor="t", purpose="t")
    finally:
        restored.close()


TRAINING_CLIPS = 12


def test_forensic_training_run_folder_goes_with_delete_everything(platform, owner, make_owner, tmp_path):
    """`export --split all`, `export --for-training … --into DIR`, then "delete everything": DIR is gone."""
    from overheard.households import Household
    from overheard.learn import register as register_learn
    from overheard.learn.export import export_sealed, open_for_training

    register_learn()
    bystander = make_owner()
    with transaction(platform.sessions) as s:
        for hh in (owner.household_id, bystander.household_id):
            s.get_one(Household, hh).human_review = True
    phrases = {}
    for i in range(TRAINING_CLIPS):
        rec = add_recording(platform, owner.device_id, phrase := unique_phrase(i), seconds=0.1)
        annotate(platform, rec, phrase, i)
        phrases[rec.id] = phrase
    other = add_recording(platform, bystander.device_id, "bystander words", seconds=0.1)
    annotate(platform, other, "bystander words", TRAINING_CLIPS)
    export_sealed(platform, platform.settings.data_dir / "exports" / "sealed", split="all")
    run = tmp_path / "training-run"
    summary = open_for_training(platform, platform.settings.data_dir / "exports" / "sealed", run)
    assert summary.clips == TRAINING_CLIPS + 1
    opened = b"".join(p.read_bytes() for p in files_under(run))
    assert all(p.encode() in opened for p in phrases.values())  # the run did hold plaintext

    receipt = service.delete_all(platform, owner.household_id, "customer:test", START)
    assert not run.exists()
    assert receipt.body["working_copies_removed"] == [str(run.resolve())]
    scanned = b"".join(p.read_bytes() for p in files_under(tmp_path))
    assert [p for p in phrases.values() if p.encode() in scanned] == []
    assert list(tmp_path.rglob("*.wav")) == []
