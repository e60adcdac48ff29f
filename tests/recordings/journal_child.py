"""A process that appends deletions to the deletion journal, as a deletion in another worker does.

Run as ``python -m tests.recordings.journal_child TAG BATCHES LINES [MAX_FILE_BYTES]`` with the
``OVERHEARD_*`` settings in the environment. It waits for ``go`` on stdin, then appends ``BATCHES``
batches of ``LINES`` recording ids ``<TAG>-<batch>-<line>`` (one ``append`` per batch, as one
deletion writes its ids). With ``MAX_FILE_BYTES`` the process may not grow any file past that
size (``RLIMIT_FSIZE``): a write is cut short there, as on a full disk.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from overheard.config import Settings, load_settings
from overheard.db import utcnow
from overheard.platform import Platform
from overheard.recordings import journal

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOUSEHOLD = "hh_journal"


def start(settings: Settings, tag: str, batches: int, lines: int, max_bytes: int | None = None):  # type: ignore[no-untyped-def]
    """This module as a process on ``settings``, waiting for ``go`` on its stdin."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)]),
        "OVERHEARD_DATA_DIR": str(settings.data_dir),
        "OVERHEARD_DATABASE_URL": settings.database_url,
    }
    args = [tag, str(batches), str(lines)] + ([] if max_bytes is None else [str(max_bytes)])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.recordings.journal_child", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def main(tag: str, batches: int, lines: int, max_bytes: int | None) -> None:
    """Append the batches once told to."""
    platform = Platform.open(load_settings())
    if max_bytes is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, resource.RLIM_INFINITY))
    print("ready", flush=True)
    sys.stdin.readline()
    for batch in range(batches):
        ids = [f"{tag}-{batch}-{line}" for line in range(lines)]
        journal.append(platform, HOUSEHOLD, ids, utcnow())
    os._exit(0)  # the limit would stop closing the platform from writing its files


if __name__ == "__main__":
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), limit)
