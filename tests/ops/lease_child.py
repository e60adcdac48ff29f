"""A worker process that claims one job and runs a handler that never ends, with heartbeats.

Run as ``python -m tests.ops.lease_child JOB_ID`` with the ``OVERHEARD_*`` settings in the
environment; prints ``claimed`` once the job is its own. The parent kills it to play a dead worker.
"""

from __future__ import annotations

import sys
import time

from overheard import jobs
from overheard.config import load_settings
from overheard.platform import Platform

HANG_KIND = "test_hang"
"""A job kind whose handler runs until its process is killed."""


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
