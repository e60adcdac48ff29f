"""Seconds from a worker's death to another worker reclaiming its job.

A child process claims a job whose handler never ends, heartbeating every ``job_heartbeat_s``; it is
killed (SIGKILL) at a random point between heartbeats, and this process polls for the job as an
idle in-process worker does (every second). Baseline: the former fixed 300 s lease, which a dead
worker's job waited out whatever its heartbeat.

    python benchmarks/job_reclaim.py [--lease-s 30 --heartbeat-s 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for tests.ops.lease_child

from benchmarks._databases import databases  # noqa: E402
from tests.ops.lease_child import HANG_KIND, start_worker  # noqa: E402

from overheard import jobs  # noqa: E402
from overheard.config import Settings  # noqa: E402
from overheard.db import transaction  # noqa: E402
from overheard.platform import Platform, initialise  # noqa: E402

FORMER_FIXED_LEASE_S = 300.0
"""The lease every job had before it was a setting, with no heartbeat."""
IDLE_POLL_S = 1.0
"""How often an idle in-process worker looks for due jobs (jobs.POLL_S)."""


def one_run(platform: Platform, rng: random.Random) -> float:
    """Kill a heartbeating worker; seconds until its job could be claimed again."""
    s = platform.settings
    with transaction(platform.sessions) as session:
        job_id = jobs.enqueue(session, HANG_KIND, "bench").id
    child = start_worker(s, job_id)
    time.sleep(s.job_heartbeat_s * (1 + rng.random()))
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    died = time.monotonic()
    while jobs.claim(platform.sessions, job_id=job_id, lease_s=s.job_lease_s) is None:
        time.sleep(IDLE_POLL_S)
    return time.monotonic() - died


def main() -> None:
    """Measure and print the reclaim delay on each database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease-s", type=float, default=Settings().job_lease_s)
    parser.add_argument("--heartbeat-s", type=float, default=Settings().job_heartbeat_s)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"lease {args.lease_s} s, heartbeat {args.heartbeat_s} s, {args.runs} runs")
    print(f"{'database':<11} {'median_s':>9} {'max_s':>7} {'former_s':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases(Path(tmp)):
            settings = Settings(
                data_dir=Path(tmp) / name,
                database_url=url,
                job_lease_s=args.lease_s,
                job_heartbeat_s=args.heartbeat_s,
            ).resolved()
            initialise(settings)
            platform = Platform.open(settings)
            try:
                delays = [one_run(platform, rng) for _ in range(args.runs)]
            finally:
                platform.close()
            median = statistics.median(delays)
            print(
                f"{name:<11} {median:>9.1f} {max(delays):>7.1f} {FORMER_FIXED_LEASE_S:>9.0f} "
                f"{FORMER_FIXED_LEASE_S / median:>6.1f}"
            )


if __name__ == "__main__":
    main()
