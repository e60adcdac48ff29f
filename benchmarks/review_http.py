"""Claim + submit throughput over HTTP at 1, 8 and 50 concurrent annotators, beside the database.

Run: ``python benchmarks/review_http.py [--tasks N] [--databases sqlite,postgresql]``.

For each database (a fresh SQLite file; a throw-away PostgreSQL database on
OVERHEARD_TEST_POSTGRES_URL, skipped when unreachable) it starts a real ``overheard serve`` on
loopback, creates 50 annotator accounts, signs each in through ``/login`` and ``/login/mfa`` with a
real TOTP code, and runs the review loop of ``overheard.workbench.client.ReviewClient`` (POST
``/review/api/claim`` then POST ``/review/api/submit``), each simulated annotator in its own thread
with its own session. In the same run, on the same database, it measures two baselines:

* ``bare UPDATE`` — the atomic claim statement alone, nothing else in the transaction;
* ``service`` — ``workbench.flow.claim`` + ``flow.submit`` in process (lease, audit, sealed answer).

``double`` counts tasks handed to more than one annotator in a measurement; it must be 0.

To drive another review tool through the same loop on this machine, start it, then
``python benchmarks/review_http.py --url http://127.0.0.1:PORT --accounts accounts.json`` where the
file lists ``[{"pseudonym": …, "password": …, "totp_secret": …}, …]``; only the HTTP rows run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
from _databases import databases
from sqlalchemy import insert, text

from overheard.accounts import service as accounts
from overheard.accounts.secrets import AccountKeys
from overheard.accounts.service import staff_principal
from overheard.accounts.settings import AccountSettings
from overheard.config import Settings
from overheard.db import transaction, utcnow
from overheard.identity.service import enrol_household
from overheard.platform import Platform, initialise
from overheard.recordings.models import Recording, Status
from overheard.review.consent import set_human_review
from overheard.review.models import ReviewTask
from overheard.workbench import flow
from overheard.workbench.client import ReviewClient

LEVELS = (1, 8, 50)
START_TIMEOUT_S = 180
"""Seconds a starting server may take to answer /healthz (its web processes import the speech stack)."""
DEFAULT_TASKS = 300
PASSWORD = "violet harbour lantern 42"
SERVER_ENV = {
    # Real argon2id at a low cost, and sign-in limits opened for 50 accounts from one address.
    "OVERHEARD_ARGON2_TIME_COST": "1",
    "OVERHEARD_ARGON2_MEMORY_KIB": "8192",
    "OVERHEARD_ARGON2_PARALLELISM": "1",
    "OVERHEARD_LOGIN_IP_MAX_ATTEMPTS": "100000",
    "OVERHEARD_WORKERS": "0",
    "OVERHEARD_REVIEW_GOLD_SHARE": "0",
    "OVERHEARD_REVIEW_DOUBLE_SHARE": "0",
}
BARE_SQL = """
UPDATE review_tasks SET state = 'leased', leased_to = :who, lease_id = :lease, lease_until = :until
WHERE id = (SELECT id FROM review_tasks WHERE state = 'queued' ORDER BY created_at LIMIT 1 {lock})
  AND state = 'queued'
RETURNING id
"""

Loop = Callable[[int], str | None]
"""One claim (+ submit) by worker ``i``; the task id, or None when the queue is empty."""


@dataclass(frozen=True)
class Account:
    """A staff member a client signs in as."""

    pseudonym: str
    password: str
    totp_secret: str


def make_accounts(platform: Platform, n: int) -> list[Account]:
    """``n`` enrolled annotators (password + confirmed authenticator)."""
    settings = AccountSettings.from_settings(platform.settings)
    keys = AccountKeys.from_secrets(platform.secrets)
    earlier = utcnow() - timedelta(seconds=90)
    made = []
    with transaction(platform.sessions) as db:
        for i in range(n):
            staff, _ = accounts.create_staff(db, name=f"Bench {i}", role="annotator", now=earlier)
            accounts.choose_staff_password(db, staff, PASSWORD, settings=settings)
            secret = accounts.pending_totp_secret(db, staff, keys)
            code = pyotp.TOTP(secret).at(earlier)
            assert accounts.confirm_totp(
                db, staff, code, keys=keys, who=staff_principal(staff), now=earlier
            )
            made.append(Account(staff.pseudonym, PASSWORD, secret))
    return made


def make_household(platform: Platform) -> tuple[str, str]:
    """A consenting household with a data key; (household id, device id)."""
    tag = uuid.uuid4().hex[:8]
    with transaction(platform.sessions) as s:
        hh = enrol_household(
            s,
            platform.keyring,
            platform.secrets,
            name="Bench",
            account=f"B-{tag}",
            email=f"{tag}@bench.test",
            serial=f"SN-{tag}",
        )
        # before the seeded clips (captured minutes back): consent covers what is recorded after it
        set_human_review(s, hh.household_id, True, actor="bench", now=utcnow() - timedelta(days=1))
    return hh.household_id, hh.device_id


def seed_tasks(platform: Platform, home: tuple[str, str], n: int) -> None:
    """``n`` transcribed recordings of ``home``, each with a queued task (no audio: claims only)."""
    household, device = home
    now = utcnow() - timedelta(minutes=5)
    recs = [uuid.uuid4().hex for _ in range(n)]
    rows = [
        {
            "id": r,
            "household_id": household,
            "device_id": device,
            "captured_at": now,
            "received_at": now,
            "duration_s": 2.0,
            "source_rate_hz": 16000,
            "source_format": "WAV/PCM_16",
            "status": Status.TRANSCRIBED.value,
        }
        for r in recs
    ]
    tasks = []
    for i, r in enumerate(recs):
        task_id = uuid.uuid4().hex
        tasks.append(
            {
                "id": task_id,
                "pseudonym": f"C-{task_id[:12]}",
                "recording_id": r,
                "household_id": household,
                "reason": "random",
                "state": "queued",
                "duration_s": 2.0,
                "created_at": now + timedelta(microseconds=i),
            }
        )
    with transaction(platform.sessions) as s:
        s.execute(insert(Recording), rows)
        s.execute(insert(ReviewTask), tasks)


def bare_loop(platform: Platform) -> Loop:
    """The atomic UPDATE alone: the floor any claim pays."""
    lock = "FOR UPDATE SKIP LOCKED" if platform.engine.dialect.name == "postgresql" else ""
    sql = text(BARE_SQL.format(lock=lock))
    until = datetime.now(UTC) + timedelta(hours=1)

    def run(i: int) -> str | None:
        with platform.engine.begin() as conn:
            params = {"who": f"R-bare-{i}", "lease": uuid.uuid4().hex, "until": until}
            return conn.execute(sql, params).scalar()

    return run


def service_loop(platform: Platform, team: list[Account]) -> Loop:
    """``flow.claim`` + ``flow.submit`` in process: the service work without HTTP."""
    answer = flow.answer_from("what is the weather", "weather", [])

    def run(i: int) -> str | None:
        who = team[i].pseudonym
        lease = flow.claim(platform, who, datetime.now(UTC))
        if lease is None:
            return None
        flow.submit(platform, who, lease.lease_id, answer, datetime.now(UTC))
        return lease.task.task_id

    return run


def http_loop(clients: list[ReviewClient]) -> Loop:
    """POST /review/api/claim then /review/api/submit, as annotator ``i``."""

    def run(i: int) -> str | None:
        task = clients[i].claim()
        if task is None:
            return None
        clients[i].submit(task["lease_id"], "what is the weather", intent="weather")
        return str(task["task_id"])

    return run


def measure(run: Loop, workers: int, tasks: int) -> tuple[float, int, int]:
    """(loops per second, tasks done, tasks handed to more than one worker)."""
    per = max(1, tasks // workers)
    start_line = threading.Barrier(workers)

    def work(i: int) -> list[str]:
        start_line.wait()
        done = (run(i) for _ in range(per))
        return [t for t in done if t is not None]

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(work, range(workers)))
    elapsed = time.perf_counter() - start
    won = [t for part in parts for t in part]
    doubles = sum(1 for n in Counter(won).values() if n > 1)
    return len(won) / elapsed, len(won), doubles


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings, *, source: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`overheard serve` on a free loopback port, once /healthz answers; ``source``: another
    ``src`` directory to import overheard from (an earlier version, for a comparison)."""
    port = free_port()
    env = {**os.environ, **SERVER_ENV, "OVERHEARD_DATABASE_URL": settings.database_url}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    cmd = [
        sys.executable,
        "-m",
        "overheard",
        "serve",
        "--data-dir",
        str(settings.data_dir),
        "--port",
        str(port),
    ]
    log = (settings.data_dir / "server.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start; see server.log")


def sign_in_all(url: str, team: list[Account]) -> list[ReviewClient]:
    """A signed-in client per account (sign-ins in parallel)."""

    def one(account: Account) -> ReviewClient:
        client = ReviewClient(url)
        client.sign_in(account.pseudonym, account.password, account.totp_secret)
        return client

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, team))


def bench(name: str, url: str, tasks: int, tmp: Path) -> list[tuple[str, ...]]:
    """Rows of the table for one database."""
    settings = Settings(data_dir=tmp / name, database_url=url, **_settings_overrides()).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    team = make_accounts(platform, max(LEVELS))
    home = make_household(platform)
    server, base = serve(settings)
    rows = []
    try:
        clients = sign_in_all(base, team)
        loops = {
            "bare UPDATE": bare_loop(platform),
            "service": service_loop(platform, team),
            "HTTP": http_loop(clients),
        }
        for workers in LEVELS:
            for label, run in loops.items():
                seed_tasks(platform, home, tasks)
                rate, done, doubles = measure(run, workers, tasks)
                _drain(platform)
                rows.append((name, str(workers), label, f"{rate:,.0f}", str(done), str(doubles)))
                print(" | ".join(rows[-1]), flush=True)
        for client in clients:
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        platform.close()
    return rows


def _settings_overrides() -> dict[str, object]:
    return {"review_gold_share": 0.0, "review_double_share": 0.0, "workers": 0}


def _drain(platform: Platform) -> None:
    # Tasks the bare UPDATE leased stay leased; take them out so the next measurement starts clean.
    with transaction(platform.sessions) as s:
        s.execute(
            text("UPDATE review_tasks SET state = 'withdrawn' WHERE state IN ('queued', 'leased')")
        )


def external(url: str, accounts_file: Path, tasks: int) -> list[tuple[str, ...]]:
    """Only the HTTP rows, against a server someone else started (its own queue must hold tasks)."""
    team = [Account(**a) for a in json.loads(accounts_file.read_text())]
    clients = sign_in_all(url, team)
    rows = []
    for workers in [n for n in LEVELS if n <= len(team)]:
        rate, done, doubles = measure(http_loop(clients), workers, tasks)
        rows.append((url, str(workers), "HTTP", f"{rate:,.0f}", str(done), str(doubles)))
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    """Run every database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS, help="tasks per measurement")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--url", help="drive an already running server instead")
    parser.add_argument("--accounts", type=Path, help="JSON list of accounts for --url")
    args = parser.parse_args()
    header = ("database", "annotators", "loop", "claims+submits/s", "done", "double")
    rows: list[tuple[str, ...]] = []
    if args.url:
        rows = external(args.url, args.accounts, args.tasks)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for name, url in databases(Path(tmp), set(args.databases.split(","))):
                rows += bench(name, url, args.tasks, Path(tmp))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
