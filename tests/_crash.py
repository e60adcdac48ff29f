"""Run a script in a child Python that must die by SIGKILL (it kills itself at the point a test
names): what a worker killed there leaves behind is then checked by the parent. The child can
import this module (the checkout's root is on its path) to arm :func:`kill_after_commit`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def killed_child(script: str, *args: str, timeout_s: float = 300) -> None:
    """Run ``script`` (``python -c``) with ``args``, this checkout's ``src`` importable; assert it
    was killed by SIGKILL (else its stderr's tail is the failure)."""
    paths = [p for p in (os.environ.get("PYTHONPATH", ""), str(SRC), str(ROOT)) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def kill_after_commit(sessions: Any, marks: Callable[[Any], bool]) -> None:
    """In the child: SIGKILL this process as the commit of a transaction returns, when ``marks``
    (called with the session after each of its flushes) held at one of them."""
    from sqlalchemy import event

    def flushed(session: Any, _context: Any) -> None:
        if marks(session):
            session.info["kill_after_commit"] = True

    def committed(session: Any) -> None:
        if session.info.get("kill_after_commit"):
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(sessions, "after_flush", flushed)
    event.listen(sessions, "after_commit", committed)
