"""A model build killed mid-way (SIGKILL: no handler runs) leaves nothing that outlives the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from overheard.errors import Conflict
from overheard.learn.staging import PREFIX, staged_build, sweep_dead_builds

SECRET = "kwame called about the divorce papers"

CHILD = """
import sys, time
from pathlib import Path
from overheard.learn.staging import staged_build
with staged_build(Path(sys.argv[1]), sys.argv[2]) as staging:
    staging.mkdir()
    (staging / "lm.arpa").write_text(sys.argv[3])
    print("building", flush=True)
    time.sleep(600)
"""


def _start_build(models: Path, name: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(models), name, SECRET],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "building"
    return child


def _plaintext_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def _killed_build(models: Path, name: str) -> None:
    child = _start_build(models, name)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()  # type: ignore[union-attr]
    assert _plaintext_under(models), "the killed build should have left its staging files"


def test_a_killed_build_is_removed_by_the_next_sweep(tmp_path: Path) -> None:
    models = tmp_path / "models"
    _killed_build(models, "asr-0001")
    assert sweep_dead_builds(models) == ["asr-0001"]
    assert _plaintext_under(models) == []
    assert list(models.iterdir()) == []


def test_a_live_build_is_left_alone_and_its_name_is_busy(tmp_path: Path) -> None:
    models = tmp_path / "models"
    child = _start_build(models, "asr-0001")
    try:
        assert sweep_dead_builds(models) == []
        assert _plaintext_under(models)
        with pytest.raises(Conflict) as caught, staged_build(models, "asr-0001"):
            pass
        assert caught.value.code == "busy"
        assert _plaintext_under(models), "a refused build must not remove the live one's files"
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()  # type: ignore[union-attr]


def test_a_finished_build_is_renamed_and_leaves_no_lock(tmp_path: Path) -> None:
    models = tmp_path / "models"
    with staged_build(models, "nlu-0001.npz") as staging:
        staging.write_bytes(b"weights")
    assert sorted(p.name for p in models.iterdir()) == ["nlu-0001.npz"]


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(RuntimeError), staged_build(models, "asr-0001") as staging:
        staging.mkdir()
        (staging / "lm.arpa").write_text(SECRET)
        raise RuntimeError("the build failed")
    assert list(models.iterdir()) == []


def test_the_final_name_is_never_overwritten(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "asr-0001").mkdir()
    (models / "asr-0001" / "lm.arpa").write_text("registered model")
    with pytest.raises(Conflict), staged_build(models, "asr-0001") as staging:
        staging.mkdir()
    assert (models / "asr-0001" / "lm.arpa").read_text() == "registered model"
    assert not any(p.name.startswith(PREFIX) for p in models.iterdir())


def test_a_finished_build_is_synced_before_it_takes_its_name_and_the_name_after(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A power cut right after the rename must not leave a model with empty or missing files: every
    file and folder of the build is fsynced before the rename, the models folder after it."""
    models = tmp_path / "models"
    steps: list[tuple[str, str]] = []
    fsync, rename = os.fsync, os.rename

    def synced(fd: int) -> None:
        steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def renamed(src, dst) -> None:  # type: ignore[no-untyped-def]
        steps.append(("rename", str(dst)))
        rename(src, dst)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "rename", renamed)
    with staged_build(models, "asr-0002") as staging:
        (staging / "lm").mkdir(parents=True)
        (staging / "lm" / "lm.arpa").write_text("\\data\\\n")
        (staging / "card.json").write_text("{}")
    monkeypatch.undo()
    at = steps.index(("rename", str(models / "asr-0002")))
    before = {path for step, path in steps[:at] if step == "fsync"}
    building = models / f"{PREFIX}asr-0002"
    assert {str(building / "lm" / "lm.arpa"), str(building / "card.json"), str(building / "lm"),
            str(building)} <= before  # fmt: skip
    assert ("fsync", str(models)) in steps[at:]
    assert (models / "asr-0002" / "lm" / "lm.arpa").read_text() == "\\data\\\n"
