"""A worker process that claims one job and runs a handler that never ends, with heartbeats.

Run as ``python -m tests.ops.lease_child JOB_ID`` with the ``OVERHEARD_*`` settings in the
environment; prints ``claimed`` once the job is its own. The parent kills it to play a dead worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from overheard import jobs
from overheard.config import Settings, load_settings
from overheard.platform import Platform

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HANG_KIND = "test_hang"
"""A job kind whose handler runs until its process is killed."""


def start_worker(settings: Settings, job_id: str) -> subprocess.Popen[str]:
    """This module as a worker process on ``settings``; returns once it has claimed ``job_id``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)]),
        "OVERHEARD_DATA_DIR": str(settings.data_dir),
        "OVERHEARD_DATABASE_URL": settings.database_url,
        "OVERHEARD_JOB_LEASE_S": str(settings.job_lease_s),
        "OVERHEARD_JOB_HEARTBEAT_S": str(settings.job_heartbeat_s),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ops.lease_child", job_id],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "claimed"
    return child


def hang(_platform: Platform, _subject: str) -> None:
    """Block forever (the process is killed from outside)."""
    print("claimed", flush=True)
    while True:
        time.sleep(60)


def main(job_id: str) -> None:
    """Claim ``job_id`` with the configured lease and run it."""
    jobs.register(HANG_KIND, hang)
    settings = load_settings()
    platform = Platform.open(settings)
    job = jobs.claim(platform.sessions, job_id=job_id, lease_s=settings.job_lease_s)
    if job is None:
        print("not claimable", flush=True)
        sys.exit(3)
    jobs.run_claimed(platform, job)


if __name__ == "__main__":
    main(sys.argv[1])
