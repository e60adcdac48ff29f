"""The server secrets file: written whole or not at all."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

from overheard.server_secrets import NAMES, create_secrets_file, load_secrets

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CUT_SHORT = """
import os, resource, signal, sys
from pathlib import Path
from overheard.server_secrets import create_secrets_file
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (40, resource.RLIM_INFINITY))
try:
    create_secrets_file(Path(sys.argv[1]))
except OSError as exc:
    print(exc.errno, flush=True)
os._exit(0)
"""


def test_a_secrets_file_cut_short_is_not_kept_by_the_next_init(tmp_path: Path) -> None:
    """``init`` keeps an existing secrets file. One cut short while it was written (a full disk, a
    crash: it was created, then written) was kept as it was, and every start then failed on it;
    a fresh one would change the e-mail lookup and watermark keys of the data already there. It
    is written aside, synced and linked into place whole, so a cut write leaves no file."""
    path = tmp_path / "data" / "server-secrets.json"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", CUT_SHORT, str(path)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == str(errno.EFBIG)
    assert list(path.parent.iterdir()) == []
    create_secrets_file(path)  # `overheard init` again
    assert set(load_secrets(path).values) == set(NAMES)
    assert list(path.parent.iterdir()) == [path]
