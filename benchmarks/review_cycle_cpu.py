"""CPU of one review cycle inside one process, with the profile of where it goes.

    python benchmarks/review_cycle_cpu.py [--cycles 200] [--database-url URL] [--loop two|four] [--profile] [--parts]
        [--renditions FILE]

The real app on SQLite (or ``--database-url``) behind an in-process ASGI client, one signed-in
annotator, real read-speech clips seeded as in ``review_loop.py``. Every route runs inline on the
event loop's thread (no thread pool), so ``--profile`` (cProfile, thread CPU time) sees the whole
server side of each cycle: claim → task text + audio URL → the marked audio → submit (``--loop
four``), or by default (``--loop two``) the marked audio → a submit that claims the next task and
answers its text and audio URL. Printed: CPU ms per cycle of that thread (server side, no sockets),
and of the whole process (client included), and the SQL statements the server sent per cycle
(counted by the engines' statement hook: SQLite's ``BEGIN IMMEDIATE`` is among them; ``COMMIT``,
and PostgreSQL's implicit ``BEGIN``, which the driver sends itself, are not). ``--parts``: the
thread CPU of each request and of the parts named in ``PARTS`` (about 1 µs a call of overhead).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import pickle
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import starlette.concurrency
from fastapi.testclient import TestClient
from review_http import make_accounts, make_household
from review_loop import DEFAULT_DATA, EXTRA_ENV, LOOPS, disguised, real_clips, seed
from sqlalchemy import event
from sqlalchemy.engine import Engine

from overheard.config import Settings
from overheard.platform import Platform, initialise
from overheard.web import create_app
from overheard.workbench.client import ReviewClient

WARM_UP_CYCLES = 10
GOAL_MS = 10.0
"""Issue 13's goal: server CPU per review cycle, ms."""


async def _inline(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def run_inline() -> None:
    """Sync routes and dependencies run on the event loop's thread (one thread to measure).

    Every loaded module that holds starlette's ``run_in_threadpool`` under that name is patched,
    the app's own included (the session look-up is called so): what runs on a pool thread would
    not be counted.
    """
    original = starlette.concurrency.run_in_threadpool
    for module in list(sys.modules.values()):
        if getattr(module, "run_in_threadpool", None) is original:
            module.run_in_threadpool = _inline  # type: ignore[attr-defined]


PARTS = (
    ("overheard.accounts.context", "_load", "session look-ups"),
    ("overheard.workbench.flow", "submit", "the annotation's transaction"),
    ("overheard.workbench.flow", "claim_with_text", "the next claim with its text"),
    ("overheard.workbench.flow", "submit_and_claim", "the annotation with the next claim (one transaction)"),
    ("overheard.protect.serving", "_open_and_mark", "the serve's transaction"),
    ("overheard.protect._marking", "embed", "the watermark embed"),
    ("overheard.protect.serving", "to_wav_bytes", "WAV encoding"),
    ("overheard.workbench.api", "task_json", "the task's JSON and audio URL"),
)
"""``--parts``: (module, function, label) timed with thread CPU around each call."""


def timed_by_path(app: Any, add: Callable[[str, float], None]) -> Any:
    """``app`` calling ``add(key, seconds)`` with each HTTP request's thread CPU, ``key`` being
    ``audio``, ``submit`` or ``other`` by its path."""

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        path = scope["path"]
        key = "submit" if path.endswith("/submit") else "audio" if "/audio" in path else "other"
        start = time.thread_time()
        try:
            await app(scope, receive, send)
        finally:
            add(key, time.thread_time() - start)

    return timed


class Parts:
    """Thread CPU seconds spent inside each of ``PARTS`` (and each request path) while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.seconds: dict[str, float] = {}
        for module_name, name, label in PARTS:
            module = importlib.import_module(module_name)
            if hasattr(module, name):  # an older source tree may lack a part
                setattr(module, name, self._timed(getattr(module, name), label))

    def _timed(self, func: Any, label: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(label, time.thread_time() - start)

        return timed

    def add(self, label: str, seconds: float) -> None:
        """Count ``seconds`` under ``label`` (while ``on``)."""
        if self.on:
            self.seconds[label] = self.seconds.get(label, 0.0) + seconds

    def app(self, app: Any) -> Any:
        """``app`` with each request's thread CPU counted by path (audio, submit, other)."""
        return timed_by_path(app, lambda key, seconds: self.add(f"request: {key}", seconds))


class StatementCount:
    """SQL statements sent through any engine while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.count = 0
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += self.on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--loop", choices=sorted(LOOPS), default="two", help="requests per task")
    parser.add_argument("--profile", action="store_true", help="print the 40 costliest calls")
    parser.add_argument(
        "--parts", action="store_true", help="print the thread CPU of each request and of its parts"
    )
    parser.add_argument(
        "--renditions", type=Path, help="a pickle of disguised renditions to reuse (made and kept if absent)"
    )
    parser.add_argument(
        "--sort", default="cumulative", help="profile order: cumulative (overheard's own calls) or tottime (all)"
    )
    args = parser.parse_args()
    cycle = LOOPS[args.loop]
    run_inline()
    os.environ.update(EXTRA_ENV)
    tmp = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    settings = Settings(
        data_dir=tmp / "data", database_url=url, workers=0, serve_max_per_window=1_000_000
    ).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    account = make_accounts(platform, 1)[0]
    clips = real_clips(DEFAULT_DATA, 2)
    if args.renditions and args.renditions.exists():
        made = pickle.loads(args.renditions.read_bytes())
    else:
        made = disguised(clips)
        if args.renditions:
            args.renditions.write_bytes(pickle.dumps(made))
    seed(platform, make_household(platform), clips, made, args.cycles + WARM_UP_CYCLES + 1)
    profile = cProfile.Profile(time.thread_time)
    statements = StatementCount()
    parts = Parts() if args.parts else None
    app = create_app(platform, run_workers=False)
    with TestClient(parts.app(app) if parts else app, base_url="https://testserver") as http:
        http.follow_redirects = False
        client = ReviewClient("https://testserver")
        client.http = http
        client.sign_in(account.pseudonym, account.password, account.totp_secret)
        for _ in range(WARM_UP_CYCLES):
            cycle(client)
        assert http.portal is not None
        process_cpu, server_cpu = time.process_time(), http.portal.call(time.thread_time)
        if args.profile:
            http.portal.call(profile.enable)
        statements.on = True
        if parts:
            parts.on = True
        for _ in range(args.cycles):
            assert cycle(client) is not None
        statements.on = False
        if parts:
            parts.on = False
        if args.profile:
            http.portal.call(profile.disable)
        server_cpu = http.portal.call(time.thread_time) - server_cpu
        process_cpu = time.process_time() - process_cpu
    platform.close()
    print(f"{args.cycles} cycles ({args.loop} requests a task) on {url.split(':', 1)[0]}; nproc={os.cpu_count()}")
    print(
        f"server-side CPU ms/cycle (the app's thread) {1000 * server_cpu / args.cycles:.1f}"
        f"   (goal <= {GOAL_MS:.0f})"
    )
    print(f"process CPU ms/cycle (client + server)      {1000 * process_cpu / args.cycles:.1f}")
    print(f"SQL statements per cycle                    {statements.count / args.cycles:.1f}")
    if parts:
        inside = sum(v for k, v in parts.seconds.items() if k.startswith("request: "))
        parts.seconds["outside the app (the test client's event loop)"] = server_cpu - inside
        for label, seconds in sorted(parts.seconds.items()):
            print(f"  {label:48s} {1000 * seconds / args.cycles:6.2f} ms/cycle")
    if args.profile:
        print("(profiled: cProfile adds its own overhead to the figures above)")
        stats = pstats.Stats(profile).sort_stats(args.sort)
        if args.sort == "cumulative":
            stats.print_stats(r"overheard", 40)
        else:
            stats.print_stats(40)


if __name__ == "__main__":
    main()
