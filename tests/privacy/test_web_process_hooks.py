"""A web process spawned by ``serve`` (several per machine) loads no job handler, yet customers
delete through it: the deletion, consent and voice-deletion hooks must be installed there too, or a
deletion would leave the clip's review tasks, export keys, plaintext working copies and models
untouched. Checked in a fresh interpreter, as ``serve`` spawns it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys
from pathlib import Path
from overheard.config import Settings
from overheard.platform import Platform, initialise
from overheard.recordings.deletion import DELETION_HOOKS
from overheard.recordings.voice_delete import HOLD_HOOKS
from overheard.review.consent import OFF_HOOKS
from overheard.web import create_app
HEAVY = ("scipy", "sklearn", "onnxruntime", "ctranslate2", "openwakeword", "pocketsphinx", "torch")

settings = Settings(data_dir=Path(sys.argv[1]), workers=1).resolved()
initialise(settings)
create_app(Platform.open(settings), run_workers=False)
name = lambda h: h.__module__ + "." + h.__name__
print(json.dumps({
    "deletion": [name(h) for h in DELETION_HOOKS],
    "hold": [name(h) for h in HOLD_HOOKS],
    "off": [name(h) for h in OFF_HOOKS],
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY),
}))
"""


def test_a_web_process_installs_every_deletion_hook_and_no_speech_stack(tmp_path: Path):
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {
        "overheard.review.hooks.on_recordings_deleted",
        "overheard.learn.hooks.on_recordings_deleted",
        "overheard.learn.working.on_recordings_deleted",
        "overheard.protect.serving.on_recordings_deleted",
    } <= set(found["deletion"])
    assert found["hold"] == ["overheard.review.hooks.on_voice_deletion"]
    assert found["off"] == ["overheard.protect.serving.on_review_off"]
    assert found["heavy"] == []
