"""A burst of N reviewers signing in at once: server memory and write stalls, bounded vs unbounded.

Run: ``python benchmarks/signin_burst.py [--reviewers 50]``. Two runs on fresh SQLite data dirs
with the production argon2id cost (64 MiB, 3 iterations, 4 lanes) against a real ``overheard
serve``: the default (``login_max_concurrent_checks`` = 2 for the server, one per web process, queued up to
``login_queue_timeout_s``, then 503 with Retry-After, which the clients honour) and a baseline with
the bound lifted (64 at once). During each burst a probe takes the database write lock (``BEGIN
IMMEDIATE``) every 50 ms, as a claim or submit would, and records how long it waited. Printed, for
the whole server (the ``serve`` process and the web processes it spawns, one per core by default):
its RSS before the burst, the largest summed RSS sampled every 50 ms during it, and the sum of each
process's own peak (VmHWM; an upper bound, the peaks need not coincide); the same for PSS (each
shared page divided among the processes that map it: the memory the server really takes); the time until every
reviewer passed the password step, how many 503s were answered, and the probe's p50/p99/max wait.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pyotp
from _procmem import process_tree, tree_kib

from overheard.accounts import passwords
from overheard.accounts import service as accounts
from overheard.accounts.secrets import AccountKeys
from overheard.accounts.service import staff_principal
from overheard.accounts.settings import AccountSettings
from overheard.config import Settings
from overheard.db import transaction, utcnow
from overheard.platform import Platform, initialise

PASSWORD = "violet harbour lantern 42"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PROBE_EVERY_S = 0.05


def make_reviewers(data_dir: Path, n: int) -> list[str]:
    """``n`` enrolled annotators sharing one production-cost password hash; their pseudonyms."""
    settings = Settings(data_dir=data_dir).resolved()
    initialise(settings)
    platform = Platform.open(settings)
    stored = passwords.hash_password(AccountSettings(), PASSWORD)
    keys = AccountKeys.from_secrets(platform.secrets)
    earlier = utcnow() - timedelta(seconds=90)
    names = []
    try:
        with transaction(platform.sessions) as db:
            for i in range(n):
                staff, _ = accounts.create_staff(db, name=f"Burst {i}", role="annotator", now=earlier)
                staff.password_hash, staff.enrol_token_hash = stored, None
                secret = accounts.pending_totp_secret(db, staff, keys)
                code = pyotp.TOTP(secret).at(earlier)
                accounts.confirm_totp(db, staff, code, keys=keys, who=staff_principal(staff), now=earlier)
                names.append(staff.pseudonym)
    finally:
        platform.close()
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def watch_memory(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Sample the tree's summed ``VmRSS`` and ``Pss`` every PROBE_EVERY_S until ``stop``; keep the
    largest of each."""
    while not stop.is_set():
        peak[0] = max(peak[0], tree_kib(pid, "VmRSS"))
        peak[1] = max(peak[1], tree_kib(pid, "Pss"))
        time.sleep(PROBE_EVERY_S)


def sign_in(url: str, name: str, barrier: threading.Barrier, busy: list[int]) -> float:
    """The password step, retried after each 503 as told; seconds from the barrier to success."""
    with httpx.Client(base_url=url, timeout=120) as client:
        token = CSRF_RE.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        barrier.wait()
        start = time.perf_counter()
        while True:
            form = {"username": name, "password": PASSWORD, "csrf_token": token}
            answer = client.post("/login", data=form)
            if answer.status_code != 503:
                assert answer.status_code in (200, 303), answer.status_code
                return time.perf_counter() - start
            busy.append(1)
            time.sleep(float(answer.headers.get("Retry-After", "1")))


def probe(db_path: Path, stop: threading.Event, waits: list[float]) -> None:
    """Take the write lock every PROBE_EVERY_S until ``stop``; record each wait."""
    conn = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    while not stop.is_set():
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
        waits.append(time.perf_counter() - start)
        time.sleep(PROBE_EVERY_S)
    conn.close()


def burst(n: int, max_checks: int) -> dict[str, float]:
    """One run: server up, ``n`` sign-ins at once, figures."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        names = make_reviewers(data_dir, n)
        port = free_port()
        env = {**os.environ, "OVERHEARD_WORKERS": "0",
               "OVERHEARD_LOGIN_MAX_CONCURRENT_CHECKS": str(max_checks)}
        cmd = [sys.executable, "-m", "overheard", "serve", "--data-dir", str(data_dir),
               "--port", str(port)]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            httpx.get(f"{url}/login")
            processes = len(process_tree(server.pid))
            before, before_pss = tree_kib(server.pid, "VmRSS"), tree_kib(server.pid, "Pss")
            barrier, busy, waits = threading.Barrier(n), [], []
            stop, sampled = threading.Event(), [before, before_pss]
            prober = threading.Thread(target=probe, args=(data_dir / "overheard.db", stop, waits))
            watcher = threading.Thread(target=watch_memory, args=(server.pid, stop, sampled))
            prober.start()
            watcher.start()
            results: list[float] = []
            threads = [
                threading.Thread(target=lambda nm=nm: results.append(sign_in(url, nm, barrier, busy)))
                for nm in names
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            stop.set()
            prober.join()
            watcher.join()
            peak = tree_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
    waits.sort()
    return {
        "processes": float(processes),
        "rss_before_mib": before / 1024,
        "rss_peak_sampled_mib": sampled[0] / 1024,
        "pss_before_mib": before_pss / 1024,
        "pss_peak_sampled_mib": sampled[1] / 1024,
        "rss_peak_bound_mib": peak / 1024,
        "all_in_s": max(results),
        "busy_503": float(len(busy)),
        "write_wait_p50_ms": statistics.median(waits) * 1000,
        "write_wait_p99_ms": waits[int(0.99 * (len(waits) - 1))] * 1000,
        "write_wait_max_ms": waits[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviewers", type=int, default=50)
    args = parser.parse_args()
    bounded = burst(args.reviewers, 2)
    unbounded = burst(args.reviewers, 64)
    print(f"{args.reviewers} reviewers sign in at once (argon2id 64 MiB, t=3, p=4), SQLite")
    print(f"{'':24}{'bounded (2)':>14}{'unbounded':>14}{'ratio':>8}")
    for key in bounded:
        ratio = bounded[key] / unbounded[key] if unbounded[key] else float("nan")
        print(f"{key:24}{bounded[key]:14.1f}{unbounded[key]:14.1f}{ratio:8.2f}")


if __name__ == "__main__":
    main()
