"""Claimers for the concurrency tests and the benchmark: threads share an engine, processes own one."""

from __future__ import annotations

import random
import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from overheard.db import make_engine, make_sessionmaker, transaction
from overheard.recordings.models import Recording, Status
from overheard.review.policy import ReviewPolicy
from overheard.review.queue import claim

POLICY = ReviewPolicy(gold_share=0.0)

Claimed = tuple[str, str, str]
"""(annotator, task id, lease id)"""


def seed_tasks(
    sessions: sessionmaker[Session], household_id: str, device_id: str, n: int, at: datetime
) -> list[str]:
    """``n`` transcribed recordings with one queued task each, bulk-inserted; the task ids."""
    from overheard.review.models import ReviewTask

    rec_ids = [uuid.uuid4().hex for _ in range(n)]
    task_ids = [uuid.uuid4().hex for _ in range(n)]
    with transaction(sessions) as s:
        s.execute(
            insert(Recording),
            [
                {
                    "id": r,
                    "household_id": household_id,
                    "device_id": device_id,
                    "captured_at": at,
                    "received_at": at,
                    "duration_s": 2.0,
                    "source_rate_hz": 16000,
                    "source_format": "WAV/PCM_16",
                    "status": Status.TRANSCRIBED.value,
                }
                for r in rec_ids
            ],
        )
        s.execute(
            insert(ReviewTask),
            [
                {
                    "id": t,
                    "pseudonym": f"C-{t[:12]}",
                    "recording_id": r,
                    "household_id": household_id,
                    "reason": "random",
                    "state": "queued",
                    "duration_s": 2.0,
                    "created_at": at,
                }
                for t, r in zip(task_ids, rec_ids, strict=True)
            ],
        )
    return task_ids


def claim_many(
    sessions: sessionmaker[Session], prefix: str, n: int, now: datetime
) -> list[Claimed]:
    """``n`` claims, each by a new annotator ``<prefix>-<i>``; what each one won."""
    won: list[Claimed] = []
    rng = random.Random(prefix)
    for i in range(n):
        who = f"{prefix}-{i}"
        with transaction(sessions) as s:
            lease = claim(s, who, POLICY, rng=rng, now=now)
        if lease is not None:
            won.append((who, lease.task.task_id, lease.lease_id))
    return won


def claim_in_process(url: str, prefix: str, n: int, now: datetime) -> list[Claimed]:
    """``claim_many`` in a process of its own, with its own engine."""
    engine = make_engine(url)
    try:
        return claim_many(make_sessionmaker(engine), prefix, n, now)
    finally:
        engine.dispose()
