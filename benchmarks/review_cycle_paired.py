"""Server CPU of the review cycle, two source trees side by side in alternating blocks.

    python benchmarks/review_cycle_paired.py BEFORE_SRC AFTER_SRC [--blocks 40] [--cycles-per-block 10]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each source tree (a folder holding the ``overheard`` package, e.g. ``git archive main src`` unpacked)
runs ``review_cycle_cpu.py``'s in-process app in its own process, on its own fresh database (a
SQLite file, or a PostgreSQL database created next to ``--database-url`` and dropped afterwards),
with the same disguised renditions (made once here). Then the two take turns, one block of
cycles at a time (A B, B A, A B, …), so both meet the same load from other jobs on the machine;
on a shared machine sequential runs move by more than the changes being measured. Printed: server
CPU ms per cycle of each (the app's thread), per request path, SQL statements per cycle, and the
mean per-block difference with twice its standard error.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_MS = 10.0
"""Issue 13's goal: server CPU per review cycle, ms."""


def worker(url: str, tasks: int, renditions: Path, loop_name: str) -> None:
    """One side: set up as ``review_cycle_cpu.main`` does; on each ``go N`` line run N cycles."""
    from fastapi.testclient import TestClient
    from review_cycle_cpu import StatementCount, run_inline, timed_by_path
    from review_http import make_accounts, make_household
    from review_loop import DEFAULT_DATA, EXTRA_ENV, LOOPS, real_clips, seed

    from overheard.config import Settings
    from overheard.platform import Platform, initialise
    from overheard.web import create_app
    from overheard.workbench.client import ReviewClient

    cycle = LOOPS[loop_name]
    run_inline()
    os.environ.update(EXTRA_ENV)
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url or f"sqlite:///{tmp / 'bench.db'}",
        workers=0,
        serve_max_per_window=1_000_000,
    ).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    account = make_accounts(platform, 1)[0]
    made = pickle.loads(renditions.read_bytes())
    seed(platform, make_household(platform), real_clips(DEFAULT_DATA, len(made)), made, tasks)
    per_path: dict[str, float] = {}
    app = create_app(platform, run_workers=False)

    def add(key: str, seconds: float) -> None:
        per_path[key] = per_path.get(key, 0.0) + seconds

    timed = timed_by_path(app, add)
    statements = StatementCount()
    with TestClient(timed, base_url="https://testserver") as http:
        http.follow_redirects = False
        client = ReviewClient("https://testserver")
        client.http = http
        client.sign_in(account.pseudonym, account.password, account.totp_secret)
        for _ in range(10):
            cycle(client)
        assert http.portal is not None
        print("ready", flush=True)
        for line in sys.stdin:
            per_path.clear()
            statements.count, statements.on = 0, True
            cpu = http.portal.call(time.thread_time)
            for _ in range(int(line.split()[1])):
                assert cycle(client) is not None
            cpu = http.portal.call(time.thread_time) - cpu
            statements.on = False
            parts = ",".join(f"{k}={v:.6f}" for k, v in sorted(per_path.items()))
            print(f"done {cpu:.6f} {statements.count} {parts}", flush=True)
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="source folder A (holds the overheard package)")
    parser.add_argument("after", type=Path, help="source folder B")
    parser.add_argument("--blocks", type=int, default=40, help="blocks of cycles per side")
    parser.add_argument("--cycles-per-block", type=int, default=10)
    parser.add_argument("--database-url", default="", help="PostgreSQL server (admin database)")
    parser.add_argument("--loop", choices=("two", "four"), default="two")
    parser.add_argument(
        "--renditions",
        type=Path,
        help="a file of disguised renditions to reuse (made and kept if absent)",
    )
    args = parser.parse_args()
    from review_loop import DEFAULT_DATA, disguised, real_clips
    from sqlalchemy import create_engine, text

    n, blocks = args.cycles_per_block, args.blocks
    renditions = args.renditions or Path(tempfile.mkdtemp()) / "renditions.pickle"
    if not renditions.exists():
        renditions.write_bytes(pickle.dumps(disguised(real_clips(DEFAULT_DATA, 2))))
    admin = (
        create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        if args.database_url
        else None
    )
    sides: dict[str, subprocess.Popen[str]] = {}
    made_dbs: list[str] = []
    for side, src in (("A", args.before), ("B", args.after)):
        url = ""
        if admin is not None:
            name = f"cycle_{side.lower()}_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            made_dbs.append(name)
            url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
        env = dict(os.environ, PYTHONPATH=f"{src.resolve()}{os.pathsep}{HERE}")
        command = [
            sys.executable,
            __file__,
            "--worker",
            url,
            str(n * blocks + 12),
            str(renditions),
            args.loop,
        ]
        sides[side] = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
    try:
        for side, process in sides.items():
            assert process.stdout is not None
            while not process.stdout.readline().startswith("ready"):
                if process.poll() is not None:
                    raise SystemExit(f"side {side} stopped during set-up")
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        paths: dict[str, dict[str, float]] = {"A": {}, "B": {}}
        statements = {"A": 0, "B": 0}
        for block in range(blocks):
            for side in "AB" if block % 2 == 0 else "BA":
                process = sides[side]
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(f"go {n}\n")
                process.stdin.flush()
                _, seconds, count, parts = process.stdout.readline().split()
                cpu[side].append(float(seconds))
                statements[side] += int(count)
                for part in parts.split(","):
                    key, value = part.split("=")
                    paths[side][key] = paths[side].get(key, 0.0) + float(value)
    finally:
        for process in sides.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait()
        if admin is not None:
            with admin.connect() as conn:
                for name in made_dbs:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    total = n * blocks
    where = args.database_url.split(":", 1)[0] if args.database_url else "sqlite"
    print(
        f"{total} cycles a side ({args.loop} requests a task) on {where}, blocks of {n}, load {os.getloadavg()[0]:.1f}"
    )
    for side, src in (("A", args.before), ("B", args.after)):
        shares = " ".join(f"{k} {1000 * v / total:.2f}" for k, v in sorted(paths[side].items()))
        print(
            f"{side} {src}: server CPU ms/cycle {1000 * sum(cpu[side]) / total:.2f} "
            f"(goal <= {GOAL_MS:.0f}; {shares}); "
            f"SQL statements/cycle {statements[side] / total:.1f}"
        )
    diffs = [1000 * (b - a) / n for a, b in zip(cpu["A"], cpu["B"], strict=True)]
    error = 2 * statistics.stdev(diffs) / len(diffs) ** 0.5
    print(
        f"B - A: {statistics.mean(diffs):+.2f} ms/cycle (2 SE {error:.2f}), B/A {sum(cpu['B']) / sum(cpu['A']):.3f}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5])
    else:
        main()
