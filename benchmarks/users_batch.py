"""Creating N staff users: one ``users add --from-csv`` process against one process per user.

Run: ``python benchmarks/users_batch.py [--users 50] [--singles 5]``. Both run on the same fresh
SQLite data dir. The baseline runs ``overheard users add`` once per user for ``--singles`` users
(each pays interpreter start, imports and opening the platform) and is scaled to N per user.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def overheard(data_dir: Path, *args: str) -> None:
    """Run one ``overheard`` command on ``data_dir``; fail loudly."""
    cmd = [sys.executable, "-m", "overheard", *args, "--data-dir", str(data_dir)]
    subprocess.run(cmd, check=True, capture_output=True, env=os.environ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--singles", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)],
                       check=True, capture_output=True)
        start = time.perf_counter()
        for i in range(args.singles):
            overheard(data_dir, "users", "add", "--role", "annotator", "--name", f"Single {i}")
        single_s = (time.perf_counter() - start) / args.singles
        sheet = Path(tmp) / "staff.csv"
        rows = "".join(f"Reviewer {i},annotator\n" for i in range(args.users))
        sheet.write_text("name,role\n" + rows)
        start = time.perf_counter()
        overheard(data_dir, "users", "add", "--from-csv", str(sheet), "--json")
        batch_s = time.perf_counter() - start
    projected = single_s * args.users
    print(f"one process per user: {single_s:.3f} s/user -> {projected:.1f} s for {args.users}")
    print(f"one --from-csv process: {batch_s:.2f} s for {args.users} ({batch_s / args.users:.4f} s/user)")
    print(f"speed-up: {projected / batch_s:.1f}x")


if __name__ == "__main__":
    main()
