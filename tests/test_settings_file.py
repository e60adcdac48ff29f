"""``settings.env`` rewritten by the command line: whole or unchanged."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

from overheard.config import remember_setting

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OPERATOR_LINES = (
    "OVERHEARD_DATABASE_URL=postgresql+psycopg://overheard@db.internal/overheard\n"
    "OVERHEARD_BLOB_URL=s3://overheard-audio/prod\n"
    "OVERHEARD_S3_ACCESS_KEY=AKIAEXAMPLEEXAMPLE\n"
    "OVERHEARD_S3_SECRET_KEY=wJalrXUtnFEMIexampleexampleexampleKEY\n"
)
CUT_SHORT = """
import os, resource, signal, sys
from pathlib import Path
from overheard.config import remember_setting
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))
try:
    remember_setting(Path(sys.argv[1]), "public_url", "https://review.example.org")
except OSError as exc:
    print(exc.errno, flush=True)
os._exit(0)
"""


def test_a_rewrite_cut_short_keeps_the_operators_settings(tmp_path: Path) -> None:
    """``serve --public-url`` rewrote the file in place (truncated, then written): a write cut
    short (a full disk, a crash) left the operator's lines (the database, the blob store and
    its credentials) cut off, so the next start ran on the defaults, an empty database. The
    file is written aside, synced and renamed into place."""
    env_file = tmp_path / "settings.env"
    env_file.write_text(OPERATOR_LINES)
    env_file.chmod(0o600)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", CUT_SHORT, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == str(errno.EFBIG)
    assert env_file.read_text() == OPERATOR_LINES
    assert [p.name for p in tmp_path.iterdir()] == ["settings.env"]
    remember_setting(tmp_path, "public_url", "https://review.example.org")
    assert (
        env_file.read_text() == OPERATOR_LINES + "OVERHEARD_PUBLIC_URL=https://review.example.org\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
