"""Concurrent claims never hand one task to two annotators: threads and processes, SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from itertools import chain

import pytest
from sqlalchemy import select

from overheard.review.models import ReviewTask

from ._claimers import claim_in_process, claim_many, seed_tasks
from .conftest import T0

pytestmark = pytest.mark.slow

THREADS = 16
CLAIMS_PER_THREAD = 100
PROCESSES = 4
CLAIMS_PER_PROCESS = 100


def _check(platform, won, tasks: list[str], attempts: int) -> None:
    task_ids = [t for _, t, _ in won]
    assert len(set(task_ids)) == len(task_ids), "a task was handed out twice"
    assert len({lease for _, _, lease in won}) == len(won)
    assert len(won) == min(len(tasks), attempts)  # nothing lost either
    with platform.sessions() as s:
        holders = dict(s.execute(select(ReviewTask.id, ReviewTask.leased_to)).all())
    assert all(holders[t] == who for who, t, _ in won)


def test_many_threads_never_share_a_task(platform, make_home):
    home = make_home()
    attempts = THREADS * CLAIMS_PER_THREAD
    tasks = seed_tasks(platform.sessions, home.household_id, home.device_id, attempts * 3 // 4, T0)
    with ThreadPoolExecutor(THREADS) as pool:
        parts = pool.map(
            lambda i: claim_many(platform.sessions, f"R-t{i}", CLAIMS_PER_THREAD, T0),
            range(THREADS),
        )
        won = list(chain.from_iterable(parts))
    _check(platform, won, tasks, attempts)


def test_many_processes_never_share_a_task(platform, make_home):
    home = make_home()
    attempts = PROCESSES * CLAIMS_PER_PROCESS
    tasks = seed_tasks(platform.sessions, home.household_id, home.device_id, attempts * 3 // 4, T0)
    url = platform.settings.database_url
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as pool:
        futures = [
            pool.submit(claim_in_process, url, f"R-p{i}", CLAIMS_PER_PROCESS, T0)
            for i in range(PROCESSES)
        ]
        won = list(chain.from_iterable(f.result() for f in futures))
    _check(platform, won, tasks, attempts)
