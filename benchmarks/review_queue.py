"""Review-queue claim throughput under concurrency, and tasks handed to two annotators at once.

Run: ``python benchmarks/review_queue.py [--claims N]``. For 1, 8 and 50 concurrent claimers
(threads, each claim by its own pseudonym so the one-task-per-annotator rule never makes one wait
for itself) it measures ``overheard.review.queue.claim`` (lease + audit event) and, as the baseline
in the same run, the bare database claim: the same conditional UPDATE (``FOR UPDATE SKIP LOCKED``
on PostgreSQL) with nothing else in the transaction. SQLite is a fresh file; PostgreSQL is a
throw-away database on OVERHEARD_TEST_POSTGRES_URL (skipped when unreachable).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from _databases import databases
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from overheard.db import make_engine, make_sessionmaker, migrate, transaction
from overheard.households import Device, Household
from overheard.recordings.models import Recording, Status
from overheard.review.models import ReviewTask
from overheard.review.policy import ReviewPolicy
from overheard.review.queue import claim

CLAIMERS = (1, 8, 50)
DEFAULT_CLAIMS = 600
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = ReviewPolicy(gold_share=0.0)
BARE_SQL = """
UPDATE review_tasks SET state = 'leased', leased_to = :who, lease_id = :lease, lease_until = :until
WHERE id = (SELECT id FROM review_tasks WHERE state = 'queued' ORDER BY created_at LIMIT 1 {lock})
  AND state = 'queued'
RETURNING id
"""

Claim = Callable[[str], str | None]
"""Claims one task for a pseudonym; the task id, or None when the queue is empty."""


def seed(sessions: sessionmaker[Session], n: int) -> None:
    """One household with ``n`` transcribed recordings, each with a queued task."""
    household = f"hh_{uuid.uuid4().hex[:12]}"
    recs = [uuid.uuid4().hex for _ in range(n)]
    with transaction(sessions) as s:
        s.add(Household(id=household, human_review=True))
        s.flush()
        s.add(Device(id=f"dev_{household}", household_id=household, token_hash=os.urandom(32)))
        s.flush()
        s.execute(insert(Recording), [_recording(r, household) for r in recs])
        s.execute(insert(ReviewTask), [_task(r, household, i) for i, r in enumerate(recs)])


def _recording(rec_id: str, household: str) -> dict[str, object]:
    return {
        "id": rec_id,
        "household_id": household,
        "device_id": f"dev_{household}",
        "captured_at": NOW,
        "received_at": NOW,
        "duration_s": 2.0,
        "source_rate_hz": 16000,
        "source_format": "WAV/PCM_16",
        "status": Status.TRANSCRIBED.value,
    }


def _task(rec_id: str, household: str, i: int) -> dict[str, object]:
    task_id = uuid.uuid4().hex
    return {
        "id": task_id,
        "pseudonym": f"C-{task_id[:12]}",
        "recording_id": rec_id,
        "household_id": household,
        "reason": "random",
        "state": "queued",
        "duration_s": 2.0,
        "created_at": NOW,
    }


def service_claim(sessions: sessionmaker[Session]) -> Claim:
    """The platform's claim."""

    def run(who: str) -> str | None:
        with transaction(sessions) as s:
            lease = claim(s, who, POLICY, rng=random.Random(who), now=NOW)
            return None if lease is None else lease.task.task_id

    return run


def bare_claim(engine: Engine) -> Claim:
    """The atomic UPDATE alone: the floor any claim pays."""
    lock = "FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    sql = text(BARE_SQL.format(lock=lock))

    def run(who: str) -> str | None:
        with engine.begin() as conn:
            params = {"who": who, "lease": uuid.uuid4().hex, "until": NOW.replace(hour=10)}
            return conn.execute(sql, params).scalar()

    return run


def measure(run: Claim, claimers: int, claims: int) -> tuple[float, int, int]:
    """(claims per second, claims won, tasks won by more than one claimer)."""
    per = max(1, claims // claimers)
    tag = uuid.uuid4().hex[:6]  # fresh pseudonyms: nobody already holds a lease

    def worker(i: int) -> list[str]:
        won = (run(f"R-{tag}-{i:02d}-{j:04d}") for j in range(per))
        return [t for t in won if t is not None]

    start = time.perf_counter()
    with ThreadPoolExecutor(claimers) as pool:
        won = [t for part in pool.map(worker, range(claimers)) for t in part]
    elapsed = time.perf_counter() - start
    doubles = sum(1 for n in Counter(won).values() if n > 1)
    return per * claimers / elapsed, len(won), doubles


def bench(name: str, url: str, claims: int) -> list[tuple[str, ...]]:
    """Rows of the table for one database."""
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    rows = []
    for claimers in CLAIMERS:
        for label, run in (
            ("bare UPDATE", bare_claim(engine)),
            ("claim()", service_claim(sessions)),
        ):
            seed(sessions, claims)
            rate, won, doubles = measure(run, claimers, claims)
            rows.append((name, str(claimers), label, f"{rate:,.0f}", str(won), str(doubles)))
            print(" | ".join(rows[-1]), flush=True)
    engine.dispose()
    return rows


def main() -> None:
    """Run every database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=DEFAULT_CLAIMS, help="claims per measurement")
    args = parser.parse_args()
    header = ("database", "claimers", "claim", "claims/s", "won", "double-leased")
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases(Path(tmp)):
            rows += bench(name, url, args.claims)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
