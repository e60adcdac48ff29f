"""Run a script in a child Python that must die by SIGKILL (it kills itself at the point a test
names): what a worker killed there leaves behind is then checked by the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def killed_child(script: str, *args: str, timeout_s: float = 300) -> None:
    """Run ``script`` (``python -c``) with ``args``, this checkout's ``src`` importable; assert it
    was killed by SIGKILL (else its stderr's tail is the failure)."""
    paths = [p for p in (os.environ.get("PYTHONPATH", ""), str(SRC)) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
