"""Appends from many threads and connections never fork the chain; checkpoints interleave safely."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier, Event

from sqlalchemy import func, select

from overheard import audit
from overheard.audit import AuditEvent
from overheard.auditlog import Checkpointer, verify
from overheard.db import make_engine, make_sessionmaker, transaction

THREADS = 8
PER_THREAD = 15


def test_parallel_appends_and_checkpoints_keep_one_chain(platform, signer):
    # Half the threads use a second engine: separate pools, separate connections.
    other = make_engine(platform.settings.database_url)
    factories = [platform.sessions, make_sessionmaker(other)]
    barrier, writers_done = Barrier(THREADS + 1), Event()
    ticker = Checkpointer(platform.sessions, signer, every_events=7)

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(PER_THREAD):
            with transaction(factories[n % 2]) as session:
                audit.append(session, actor=f"w{n}", action="test.parallel", subject=f"{n}-{i}")
            if n == 0 and i == PER_THREAD // 2:
                # One checkpoint is certain to land while the others are still writing (a busy
                # SQLite may starve the ticker thread of the write lock until the writers finish).
                ticker.tick()

    def checkpointer() -> None:
        barrier.wait()
        while not writers_done.wait(0.01):
            ticker.tick()

    try:
        with ThreadPoolExecutor(THREADS + 1) as pool:
            futures = [pool.submit(writer, n) for n in range(THREADS)]
            ticking = pool.submit(checkpointer)
            for f in futures:
                f.result()
            writers_done.set()
            ticking.result()
        ticker.tick()
    finally:
        other.dispose()
    total = THREADS * PER_THREAD
    with platform.sessions() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        prevs = session.scalar(select(func.count(func.distinct(AuditEvent.prev_hash))))
        report = verify(session, signer.public_key)
    assert seqs == list(range(1, total + 1))
    assert prevs == total  # no two events share a predecessor: no fork
    assert report.ok, report.problems
    assert report.events == total and report.checkpoints >= 2
