"""Exports: only usable reviewed clips, sealed per household, opened for training, loadable, deletable."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import soundfile as sf
from sqlalchemy import select

from overheard import audit
from overheard.db import transaction
from overheard.errors import BadRequest, Forbidden
from overheard.learn.export import export_plaintext, export_sealed, open_for_training, read_manifest
from overheard.learn.models import ExportMember
from overheard.learn.reviewed import reviewed_clips
from overheard.recordings.deletion import delete_everything, delete_recordings
from overheard.recordings.models import Recording, Status
from overheard.review.policy import Flag


@pytest.fixture
def world(platform, make_home, make_reviewed):
    """Two consenting homes with usable clips, plus clips that must never be exported."""
    a, b, shy = make_home(), make_home(), make_home(consent=True)
    good = {
        make_reviewed(a, "alexa switch on the lounge lights", "lights_on"): a,
        make_reviewed(a, "alexa play some folk", "music_play"): a,
        make_reviewed(b, "alexa will it rain in leeds", "weather"): b,
    }
    sensitive = make_reviewed(
        b,
        "alexa call my doctor about the results",
        "general_question",
        flags=frozenset({Flag.SENSITIVE}),
    )
    opted_out = make_reviewed(shy, "alexa stop the music", "music_stop")
    accidental = make_reviewed(a, "alexa what time is it", "time_query")
    with transaction(platform.sessions) as s:
        s.get_one(Recording, accidental).status = Status.ACCIDENTAL.value
        from overheard.households import Household

        s.get_one(Household, shy.household_id).human_review = False
    return {"good": good, "never": {sensitive, opted_out, accidental}}


def test_only_usable_reviewed_clips_are_selected(platform, world):
    with platform.sessions() as s:
        ids = {c.recording_id for c in reviewed_clips(s)}
    assert ids == set(world["good"])


def test_sealed_export_has_lineage_and_no_plaintext(platform, world, tmp_path):
    summary = export_sealed(platform, tmp_path / "ex")
    manifest = read_manifest(tmp_path / "ex")
    assert summary.clips == 3 and manifest["mode"] == "sealed"
    assert {m["recording_id"] for m in manifest["members"]} == set(world["good"])
    assert all(m["annotation_id"] for m in manifest["members"])
    assert manifest["dataset_version"].startswith(summary.export_id + "@")
    assert len(manifest["shards"]) == 2  # one per household
    for shard in (tmp_path / "ex" / "shards").iterdir():
        assert b"lounge" not in shard.read_bytes() and b"RIFF" not in shard.read_bytes()
    assert not list((tmp_path / "ex").rglob("*.wav"))


def test_opened_export_loads_with_datasets_and_follows_nemo_and_kaldi(platform, world, tmp_path):
    datasets = pytest.importorskip("datasets")
    export_sealed(platform, tmp_path / "ex")
    run = tmp_path / "run"
    summary = open_for_training(platform, tmp_path / "ex", run)
    assert summary.clips == 3
    metadata = [json.loads(line) for line in (run / "metadata.jsonl").read_text().splitlines()]
    assert all("audio" not in m for m in metadata)  # nothing shadows audiofolder's Audio column
    # audiofolder needs torchcodec (torch) to encode audio; the json loader + Audio column does not.
    loaded = datasets.load_dataset("json", data_files=str(run / "metadata.jsonl"), split="train")
    loaded = loaded.rename_column("file_name", "audio")
    loaded = loaded.cast_column("audio", datasets.Audio(sampling_rate=16000, decode=False))
    assert isinstance(loaded.features["audio"], datasets.Audio)
    assert len(loaded) == 3 and all((run / a["path"]).is_file() for a in loaded["audio"])
    for a in loaded["audio"]:
        samples, rate = sf.read(run / a["path"], dtype="int16")
        assert rate == 16000 and samples.size > 0
    assert sorted(loaded["text"]) == sorted(
        ["alexa switch on the lounge lights", "alexa play some folk", "alexa will it rain in leeds"]
    )
    assert set(loaded["intent"]) == {"lights_on", "music_play", "weather"}
    # NeMo's manifest: one JSON object per line, audio_filepath (relative to the manifest), duration, text.
    for line in (run / "nemo_manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        audio, rate = sf.read(run / item["audio_filepath"], dtype="int16")
        assert rate == 16000 and item["duration"] == pytest.approx(audio.size / rate, abs=1e-3)
        assert isinstance(item["text"], str) and item["text"]
    kaldi = run / "kaldi"
    utts = [line.split()[0] for line in (kaldi / "wav.scp").read_text().splitlines()]
    assert utts == sorted(utts) and len(utts) == 3
    spk = dict(line.split() for line in (kaldi / "utt2spk").read_text().splitlines())
    assert all(u.startswith(spk[u] + "-") for u in utts)
    tasks = json.loads((run / "labelstudio.json").read_text())
    assert {t["annotations"][0]["result"][0]["value"]["text"][0] for t in tasks} == set(
        loaded["text"]
    )
    for t in tasks:  # a URL Label Studio serves from its local-files root (the dataset root)
        url = urlsplit(t["data"]["audio"])
        assert url.path == "/data/local-files/"
        served = run / parse_qs(url.query)["d"][0]
        assert served.is_file() and Path(t["data"]["file"]) == served.resolve()
        assert sf.read(served)[1] == 16000
    with platform.sessions() as s:
        assert audit.verify_chain(s).ok


def test_deleted_clip_leaves_existing_exports(platform, world, tmp_path):
    export_sealed(platform, tmp_path / "ex")
    victim, home = next(iter(world["good"].items()))
    receipt = delete_recordings(
        platform, home.household_id, [victim], actor="customer", scope={"kind": "one"}
    )
    assert receipt.body["counts"]["export_memberships_removed"] == 1
    with platform.sessions() as s:
        member = s.scalars(select(ExportMember).where(ExportMember.recording_id == victim)).one()
        assert member.clip_key is None and member.removed_at is not None
    summary = open_for_training(platform, tmp_path / "ex", tmp_path / "run")
    assert summary.clips == 2 and summary.skipped["deleted"] == 1
    removals = (tmp_path / "ex" / "removals.jsonl").read_text().splitlines()
    assert [json.loads(r)["recording_id"] for r in removals] == [victim]


def test_shredded_household_shard_is_unreadable(platform, world, tmp_path):
    export_sealed(platform, tmp_path / "ex")
    home = next(iter(world["good"].values()))
    delete_everything(platform, home.household_id, actor="customer")
    summary = open_for_training(platform, tmp_path / "ex", tmp_path / "run")
    others = [r for r, h in world["good"].items() if h != home]
    assert summary.clips == len(others)


def test_plaintext_export_needs_a_privacy_officer_and_is_audited(
    platform, world, tmp_path, make_staff
):
    annotator = make_staff("annotator")
    with pytest.raises(Forbidden):
        export_plaintext(platform, tmp_path / "no", staff_id=annotator)
    with pytest.raises(Forbidden):
        export_plaintext(platform, tmp_path / "no", staff_id="R-nobody")
    officer = make_staff("privacy_officer")
    summary = export_plaintext(platform, tmp_path / "plain", staff_id=officer, formats=["nemo"])
    assert summary.clips == 3 and len(list((tmp_path / "plain" / "audio").glob("*.wav"))) == 3
    with platform.sessions() as s:
        event = s.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == "learn.export_plaintext")
        ).one()
    assert event.actor == officer and event.details["clips"] == 3


def test_word_alignments_reach_nemo_and_hf_rows_where_the_label_agrees(platform, world, tmp_path):
    rid = next(iter(world["good"]))
    with platform.sessions() as s:
        label = open_text_label(platform, s, rid)
    heard = label.split()
    heard[-1] = heard[-1] + "x"  # the reviewer corrected the last word
    words = [
        {"text": w, "start_s": 0.2 + i * 0.3, "end_s": 0.45 + i * 0.3, "confidence": 0.8}
        for i, w in enumerate(heard)
    ]
    with transaction(platform.sessions) as s:
        rec = s.get_one(Recording, rid)
        body = {"text": " ".join(heard), "confidence": 0.8, "model": "whisper", "words": words}
        platform.gate.seal_text(s, rec, "hypothesis", json.dumps(body))
    export_sealed(platform, tmp_path / "ex")
    run = tmp_path / "run"
    open_for_training(platform, tmp_path / "ex", run)
    nemo = [json.loads(x) for x in (run / "nemo_manifest.jsonl").read_text().splitlines()]
    hf = [json.loads(x) for x in (run / "metadata.jsonl").read_text().splitlines()]
    for rows in (nemo, hf):
        row = next(r for r in rows if r["text"] == label)
        assert [w["word"] for w in row["words"]] == label.split()[:-1]
        assert row["words"][0] == {
            "word": label.split()[0],
            "start": 0.2,
            "end": 0.45,
            "confidence": 0.8,
        }
        assert all(r["words"] == [] for r in rows if r["text"] != label)


def open_text_label(platform, session, rid: str) -> str:
    from overheard.learn.reviewed import open_labels

    clip = next(c for c in reviewed_clips(session) if c.recording_id == rid)
    return open_labels(session, platform.gate, [clip], actor="test", purpose="test")[0].transcript


def test_audiofolder_loads_an_audio_column_with_torchcodec(platform, world, tmp_path):
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("torchcodec", reason="audiofolder decodes through datasets[audio]")  # test extra
    export_sealed(platform, tmp_path / "ex")
    open_for_training(platform, tmp_path / "ex", tmp_path / "run")
    loaded = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "run"), split="train")
    assert isinstance(loaded.features["audio"], datasets.Audio) and len(loaded) == 3
    decoded = loaded[0]["audio"].get_all_samples()  # the clip itself, decoded by torchcodec
    assert decoded.sample_rate == 16000 and decoded.data.shape[-1] > 1600


def _watch_syncs(monkeypatch, *, failing: str | None = None) -> list[int]:  # type: ignore[no-untyped-def]
    """The inodes the real ``os.fsync`` synced, in order (a rename keeps a file's inode); a file
    whose path holds ``failing`` fails to sync, as on a failing disk (EIO)."""
    import os

    synced: list[int] = []
    real = os.fsync

    def watched(fd: int) -> None:
        if failing and failing in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(5, "Input/output error")
        real(fd)
        synced.append(os.fstat(fd).st_ino)

    monkeypatch.setattr(os, "fsync", watched)
    return synced


def test_a_sealed_export_that_reports_success_is_on_disk(platform, world, tmp_path, monkeypatch):
    """Before, the shards and the manifest were written without a sync: an export reported done
    could come back from a power cut without them, or with a manifest cut short."""
    out = tmp_path / "ex"
    synced = _watch_syncs(monkeypatch)
    export_sealed(platform, out)
    monkeypatch.undo()
    shards = sorted((out / "shards").iterdir())
    assert len(shards) == 2
    for path in [*shards, out / "manifest.json"]:
        assert path.stat().st_ino in synced, path.name
    # The folders too, the export's own after its manifest landed in it.
    assert (out / "shards").stat().st_ino in synced
    last = len(synced) - 1 - synced[::-1].index(out.stat().st_ino)
    assert last > synced.index((out / "manifest.json").stat().st_ino)


def test_an_opened_training_run_is_on_disk_file_by_file(platform, world, tmp_path, monkeypatch):
    """Before, a training run's audio and format files were written without a sync: a run reported
    opened could come back from a power cut with empty clips or a transcript list cut short."""
    export_sealed(platform, tmp_path / "ex")
    run = tmp_path / "run"
    synced = _watch_syncs(monkeypatch)
    open_for_training(platform, tmp_path / "ex", run)
    monkeypatch.undo()
    written = [p for p in run.rglob("*")]
    assert len([p for p in written if p.suffix == ".wav"]) == 3
    assert {p for p in written if p.stat().st_ino not in synced} == set()


def test_a_manifest_that_cannot_be_synced_is_not_left_behind(
    platform, world, tmp_path, monkeypatch
):
    """A manifest marks a finished export. One written without a sync, on a disk failing, read
    back whole or cut short; now the export fails and leaves no manifest (nor a temporary)."""
    from overheard.errors import NotFound

    out = tmp_path / "ex"
    _watch_syncs(monkeypatch, failing="manifest.json")
    with pytest.raises(OSError, match="Input/output"):
        export_sealed(platform, out)
    monkeypatch.undo()
    with pytest.raises(NotFound):
        read_manifest(out)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert len(list((out / "shards").iterdir())) == 2


def test_an_opened_training_run_never_names_a_household(platform, world, tmp_path):
    """Speakers in a training run are per-export aliases. Its manifest copied the sealed export's
    shard list, which names each shard's household (needed there to find the key), so the
    plaintext folder tied each alias, and every transcript, to the household."""
    export_sealed(platform, tmp_path / "ex")
    run = tmp_path / "run"
    open_for_training(platform, tmp_path / "ex", run)
    households = {home.household_id for home in world["good"].values()}
    written = "".join(
        p.read_text(encoding="utf-8") for p in run.rglob("*") if p.suffix != ".wav" and p.is_file()
    )
    assert not any(hh in written for hh in households)


def test_a_manifest_edited_to_write_outside_the_run_folder_is_refused(platform, world, tmp_path):
    export_sealed(platform, tmp_path / "ex")
    manifest = tmp_path / "ex" / "manifest.json"
    body = json.loads(manifest.read_text())
    body["members"][0]["utt_id"] = "../../escaped"
    manifest.write_text(json.dumps(body))
    with pytest.raises(BadRequest):
        open_for_training(platform, tmp_path / "ex", tmp_path / "deep" / "run")
    assert not list(tmp_path.rglob("escaped*"))


def _outside(tmp_path: Path) -> tuple[Path, Path]:
    """A folder and a file of someone else's, 0755 and 0644, outside any export."""
    folder, file = tmp_path / "theirs", tmp_path / "theirs.txt"
    folder.mkdir()
    folder.chmod(0o755)
    file.write_text("theirs")
    file.chmod(0o644)
    return folder, file


def test_a_shards_folder_that_is_a_symlink_is_refused_and_its_target_left_alone(
    platform, world, tmp_path
):
    """``shards`` put in an export's folder as a symlink beforehand: the export wrote its sealed
    shards into the folder it points at and made that folder 0700. Now it is refused, before
    anything is recorded or written."""
    from overheard.learn.models import Export

    theirs, _ = _outside(tmp_path)
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "shards").symlink_to(theirs)
    with pytest.raises(BadRequest, match="symlink"):
        export_sealed(platform, tmp_path / "ex")
    assert list(theirs.iterdir()) == [] and theirs.stat().st_mode & 0o777 == 0o755
    with platform.sessions() as s:
        assert s.scalars(select(Export)).all() == []


def test_symlinks_in_an_export_folder_keep_their_targets_modes(platform, world, tmp_path):
    """Files and folders of an export are made 0600 and 0700 once it is written. A symlink placed
    among them (beside the manifest, in ``shards``) had its target's mode changed instead, wherever
    it pointed. Now a symlink is left as it is and its target untouched."""
    theirs, file = _outside(tmp_path)
    for where in (tmp_path / "ex", tmp_path / "ex" / "shards"):
        where.mkdir(exist_ok=True)
        (where / "a-file").symlink_to(file)
        (where / "a-folder").symlink_to(theirs)
    export_sealed(platform, tmp_path / "ex")
    assert file.stat().st_mode & 0o777 == 0o644 and theirs.stat().st_mode & 0o777 == 0o755
    assert file.read_text() == "theirs" and list(theirs.iterdir()) == []
