"""Review code never reaches the identity zone or staff accounts, directly or through another module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

CONTRACT = """\
[importlinter]
root_package = overheard

[importlinter:contract:review-zone]
name = Review code never reaches identity or staff accounts
type = forbidden
source_modules =
    overheard.review
forbidden_modules =
    overheard.identity
    overheard.accounts
"""


def test_review_never_imports_identity(tmp_path: Path):
    config = tmp_path / "importlinter.ini"
    config.write_text(CONTRACT)
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache", "--no-logo", str(config)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout
