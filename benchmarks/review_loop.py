"""The annotator's review loop over HTTP at 1, 8 and 50 clients, on SQLite and PostgreSQL.

Run: ``python benchmarks/review_loop.py [--seconds 8] [--databases sqlite,postgresql] [--clients 1,8,50]``.

For each database it starts a real ``overheard serve`` on 127.0.0.1, seeds real read-speech clips
(LibriSpeech from the evaluation data, 16 kHz) as sampled recordings whose disguised renditions
the rendition job has already made (one vocoder run per distinct clip, sealed per recording, as the
sampling job does), signs 50 annotators in (password + TOTP), and runs the loop each annotator
runs: next task (``POST /review/api/claim`` + ``GET /review/api/task/<lease>`` for the text and a
fresh audio URL) → the whole audio (``GET`` the URL) → ``POST /review/api/submit`` (``--loop four``);
by default (``--loop two``) the same in two requests a task: the submit claims the next task and
answers its text and audio URL (``"next": true``), the first claim is ``claim?with_task=true``. Every level
runs for ``--seconds`` (bounded) on fresh tasks. Printed per level:

* cycles/s, p50/p99 of one cycle (milliseconds);
* duplicates: tasks handed to more than one client (must be 0);
* server CPU per cycle: user + system CPU of the server process tree during the level ÷ cycles;
* RSS: resident memory of the server process tree at the end of the level (MB);
* load: the machine's 1-minute load average as the level began.

``--compare ../main/src --rounds 2`` runs every level on a server importing that source ("before")
and on one importing this checkout ("after"), taking turns (before, after, after, before, …) on the
same seeded database, so a change is measured against its baseline in the same session.

Goals (issue 13, this 2-core machine): CPU/cycle ≤ 10 ms; 1-client p99 ≤ 30 ms; 8 clients p99 ≤ 100 ms;
50 clients p99 ≤ 250 ms; 0 duplicates. The serve limit per staff member is opened for the run
(``OVERHEARD_SERVE_MAX_PER_WINDOW``): one scripted client far outpaces a person.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _databases import databases
from review_http import make_accounts, make_household
from review_http import serve as start_server
from sqlalchemy import text

from overheard.config import Settings
from overheard.db import transaction, utcnow
from overheard.platform import Platform, initialise
from overheard.protect import _cache, rendition
from overheard.protect.disguise import DISGUISE_VERSION
from overheard.recordings.models import Recording, Status
from overheard.review._tasks import add_task
from overheard.speech.audio import read_audio_file
from overheard.workbench.client import ReviewClient

LEVELS = (1, 8, 50)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = 6
"""Distinct real clips (each disguised once); recordings reuse them round-robin."""
MAX_CLIP_S = 4.0
TASKS_PER_S = 50
"""Tasks seeded per second of a level; a level that empties the queue ends early (rates stay right)."""
HYPOTHESIS = '{"text": "what is the weather like tomorrow", "confidence": 0.9}'
EXTRA_ENV = {"OVERHEARD_SERVE_MAX_PER_WINDOW": "1000000", "OVERHEARD_WORKERS": "0"}


@dataclass(frozen=True)
class Level:
    """One measurement."""

    clients: int
    cycles: int
    seconds: float
    latencies: list[float]
    duplicates: int
    cpu_s: float
    rss_mb: float
    failed: int = 0
    """Cycles that failed and were counted (see ``run_level``'s ``tolerate``)."""


def real_clips(data: Path, n: int) -> list[np.ndarray]:
    """``n`` read-speech clips of at most ``MAX_CLIP_S`` (synthetic buzz when the data is absent)."""
    paths = sorted((data / "speakers" / "librispeech-test-other").rglob("*.flac"))[:n]
    clips = [read_audio_file(p).pcm[: int(MAX_CLIP_S * 16000)] for p in paths]
    if clips:
        return [np.asarray(c, dtype=np.int16) for c in clips]
    t = np.arange(int(MAX_CLIP_S * 16000)) / 16000
    return [(np.sin(2 * np.pi * 140 * t) * 3000).astype(np.int16)]


def disguised(clips: list[np.ndarray]) -> list[bytes]:
    """Each clip through the rendition's disguise once (what the job would store)."""
    return [rendition.disguise_pcm(c.astype("<i2").tobytes(), rendition.os_random()) for c in clips]


def seed(platform: Platform, home: tuple[str, str], clips: list[np.ndarray], made: list[bytes], n: int) -> None:
    """``n`` sampled recordings with sealed audio, hypothesis and a stored rendition each."""
    household, device = home
    now = utcnow() - timedelta(minutes=5)
    with transaction(platform.sessions) as s:
        for i in range(n):
            pcm, rendered = clips[i % len(clips)], made[i % len(made)]
            rec = Recording(
                id=uuid.uuid4().hex, household_id=household, device_id=device, captured_at=now,
                received_at=now, duration_s=len(pcm) / 16000, source_rate_hz=16000,
                source_format="WAV/PCM_16", status=Status.TRANSCRIBED.value, asr_confidence=0.9,
                processed_at=now,
            )  # fmt: skip
            s.add(rec)
            s.flush()
            rec.audio_blob = platform.gate.seal_audio(s, rec, pcm.astype("<i2").tobytes())
            platform.gate.seal_text(s, rec, "hypothesis", HYPOTHESIS)
            _cache.store(s, platform.gate, rec, rendered, method_version=DISGUISE_VERSION)
            add_task(
                s, recording_id=rec.id, household_id=household, duration_s=rec.duration_s,
                reason="random", now=now + timedelta(microseconds=i),
            )  # fmt: skip


def sign_in_each(url: str, team: list) -> list[ReviewClient]:  # type: ignore[type-arg]
    """A signed-in client per account, one after the other (sign-in checks are rationed)."""
    clients = []
    for account in team:
        client = ReviewClient(url)
        client.sign_in(account.pseudonym, account.password, account.totp_secret)
        clients.append(client)
    return clients


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant process (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of the process tree so far."""
    total = 0
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(root: int) -> float:
    """Resident memory of the process tree, MB."""
    total = 0
    for pid in tree_pids(root):
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(x.split()[1]) for x in lines if x.startswith("VmRSS:"))
    return total / 1024


def cycle(client: ReviewClient) -> tuple[str, float] | None:
    """One loop: next task, its whole audio, submit; (task id, seconds) or None when empty."""
    start = time.perf_counter()
    task = client.claim()
    if task is None:
        return None
    shown = client.task(task["lease_id"])
    wav = client.audio(shown["audio_url"])
    assert wav[:4] == b"RIFF"
    client.submit(task["lease_id"], shown["hypothesis"], intent="weather")
    return str(task["task_id"]), time.perf_counter() - start


_CARRIED: dict[int, dict[str, Any]] = {}
"""Per client (by ``id``), the next task its last submit already claimed (``short_cycle``)."""


def short_cycle(client: ReviewClient) -> tuple[str, float] | None:
    """The same loop in two requests a task: the task with its text and audio URL (answered by the
    previous submit, or by ``claim?with_task=true``), its whole audio, a submit that claims the next."""
    start = time.perf_counter()
    task = _CARRIED.pop(id(client), None) or client.claim(with_task=True)
    if task is None:
        return None
    if "audio_url" not in task:  # the server could not open the text with the claim
        task = {**task, **client.task(task["lease_id"])}
    wav = client.audio(task["audio_url"])
    assert wav[:4] == b"RIFF"
    following = client.submit(task["lease_id"], task["hypothesis"], intent="weather", next_task=True)
    if following is not None and following["task"] is not None:
        _CARRIED[id(client)] = following["task"]
    return str(task["task_id"]), time.perf_counter() - start


LOOPS = {"four": cycle, "two": short_cycle}
"""``--loop``: claim → task → audio → submit, or ``short_cycle``'s two requests a task."""


Cycle = Callable[[int], tuple[str, float] | None]
"""Client ``i`` runs one cycle: (task id, seconds), or None when its queue is empty."""


def run_level(
    loop: Cycle,
    n: int,
    seconds: float,
    server: int,
    tolerate: tuple[type[Exception], ...] = (),
) -> Level:
    """``n`` clients run ``loop`` together for ``seconds`` (or until their queue is empty).

    CPU and RSS are of the server's process tree (``server``). A cycle that raises one of
    ``tolerate`` is counted in ``Level.failed`` and the client goes on (as a person would press
    the button again); anything else ends the run.
    """
    gate = threading.Barrier(n)
    deadline: list[float] = []
    failed: list[str] = []

    def work(i: int) -> list[tuple[str, float]]:
        gate.wait()
        done = []
        while time.perf_counter() < deadline[0]:
            try:
                one = loop(i)
            except tolerate as exc:
                failed.append(f"{type(exc).__name__}: {str(exc)[:80]}")
                continue
            if one is None:
                break
            done.append(one)
        return done

    cpu0 = cpu_seconds(server)
    deadline.append(time.perf_counter() + seconds)
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        parts = list(pool.map(work, range(n)))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(server) - cpu0
    won = [one for part in parts for one in part]
    doubles = sum(1 for k in Counter(t for t, _ in won).values() if k > 1)
    if failed:
        example = Counter(failed).most_common(1)[0][0]
        print(f"({len(failed)} failed cycles, e.g. {example})", flush=True)
    latencies = [s for _, s in won]
    return Level(n, len(won), elapsed, latencies, doubles, cpu, rss_mb(server), len(failed))


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def bench(
    name: str,
    url: str,
    seconds: float,
    data: Path,
    tmp: Path,
    levels: tuple[int, ...] = LEVELS,
    loop: Callable[[ReviewClient], tuple[str, float] | None] = short_cycle,
    sources: tuple[tuple[str, Path | None], ...] = (("", None),),
    rounds: int = 1,
) -> list[tuple[str, ...]]:
    """Rows for one database: every level on a server of each source (label, ``src`` directory or
    None for this one), the order of the sources reversed every other round, on one seeded database."""
    settings = Settings(data_dir=tmp / name, database_url=url, workers=0).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    team = make_accounts(platform, max(levels))
    home = make_household(platform)
    clips = real_clips(data, CLIPS)
    made = disguised(clips)
    os.environ.update(EXTRA_ENV)
    rows = []
    try:
        for turn in range(rounds):
            for label, source in sources if turn % 2 == 0 else sources[::-1]:
                tag = f"{name} {label}".strip()
                rows += _levels(tag, settings, source, platform, home, clips, made, team, seconds, levels, loop)
    finally:
        platform.close()
    return rows


def _levels(
    tag: str,
    settings: Settings,
    source: Path | None,
    platform: Platform,
    home: tuple[str, str],
    clips: list[np.ndarray],
    made: list[bytes],
    team: list,  # type: ignore[type-arg]
    seconds: float,
    levels: tuple[int, ...],
    loop: Callable[[ReviewClient], tuple[str, float] | None],
) -> list[tuple[str, ...]]:
    """Every level against one server started from ``source``."""
    server, base = start_server(settings, source=source)
    rows = []
    try:
        clients = sign_in_each(base, team)
        for n in levels:
            seed(platform, home, clips, made, int(TASKS_PER_S * seconds))
            load = os.getloadavg()[0]
            level = run_level(lambda i: loop(clients[i]), n, seconds, server.pid)
            _CARRIED.clear()  # tasks claimed for a next cycle that will not come
            _drain(platform)
            rows.append((*row(tag, level), f"{load:.1f}"))
            print(" | ".join(rows[-1]), flush=True)
        for client in clients:
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def row(name: str, level: Level) -> tuple[str, ...]:
    """A printed row."""
    per_cycle_ms = 1000 * level.cpu_s / max(level.cycles, 1)
    return (
        name, str(level.clients), f"{level.cycles / level.seconds:,.1f}",
        f"{statistics.median(level.latencies) * 1000:.1f}" if level.latencies else "-",
        f"{pct(level.latencies, 0.99) * 1000:.1f}", str(level.cycles), str(level.duplicates),
        f"{per_cycle_ms:.1f}", f"{level.rss_mb:.0f}",
    )  # fmt: skip


def _drain(platform: Platform) -> None:
    with transaction(platform.sessions) as s:
        s.execute(text("UPDATE review_tasks SET state = 'withdrawn' WHERE state IN ('queued', 'leased')"))


def main() -> None:
    """Run every database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each level")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--clients", default=",".join(map(str, LEVELS)), help="comma-separated levels")
    parser.add_argument("--loop", choices=sorted(LOOPS), default="two", help="requests per task")
    parser.add_argument(
        "--compare", type=Path, default=None,
        help="another src directory (e.g. main's): its server and this one take turns on each database",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="turns of each source (with --compare)")
    args = parser.parse_args()
    levels = tuple(int(n) for n in args.clients.split(","))
    sources: tuple[tuple[str, Path | None], ...] = (("", None),)
    if args.compare is not None:
        sources = (("before", args.compare.resolve()), ("after", None))
    header = (
        "database", "clients", "cycles/s", "p50 ms", "p99 ms", "cycles", "dup", "CPU ms/cycle", "RSS MB",
        "load",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases(Path(tmp), set(args.databases.split(","))):
            rows += bench(
                name, url, args.seconds, args.data, Path(tmp), levels, LOOPS[args.loop], sources,
                args.rounds,
            )  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
