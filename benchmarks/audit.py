"""Audit log costs: append overhead per request, and verify / checkpoint / prove throughput.

Run: ``python benchmarks/audit.py [--requests N] [--events N]``. Each figure has a baseline measured
in the same run: a small transaction without ``append``, and raw SHA-256 over the bytes verify hashes.
PostgreSQL rows use a throw-away database on OVERHEARD_TEST_POSTGRES_URL (skipped when unreachable).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _databases import databases
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, text

from overheard import audit
from overheard.audit import GENESIS_HASH, AuditEvent
from overheard.auditlog import checkpoint, ensure_signing_key, prove, verify
from overheard.db import make_engine, make_sessionmaker, migrate, transaction

DEFAULT_REQUESTS = 300
DEFAULT_EVENTS = 100_000
INSERT_BATCH = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)

bench_meta = MetaData()
bench_rows = Table(
    "bench_rows",
    bench_meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payload", String(64)),
)


def fresh_engine(url: str) -> Engine:
    """A migrated engine with the benchmark's own table."""
    engine = make_engine(url)
    migrate(engine)
    bench_meta.create_all(engine)
    return engine


def append_overhead(url: str, requests: int) -> dict[str, float]:
    """µs of a one-row transaction without and with ``audit.append`` (interleaved), and of the append alone."""
    engine = fresh_engine(url)
    sessions = make_sessionmaker(engine)
    inside: list[float] = []

    def plain() -> None:
        with transaction(sessions) as s:
            s.execute(insert(bench_rows).values(payload="x"))

    def audited() -> None:
        with transaction(sessions) as s:
            s.execute(insert(bench_rows).values(payload="x"))
            start = time.perf_counter_ns()
            audit.append(s, actor="bench", action="bench.request", subject="r1", details={"n": 1})
            inside.append((time.perf_counter_ns() - start) / 1000)

    for op in (plain, audited) * 10:
        op()
    inside.clear()
    without, with_ = [], []
    for _ in range(requests):
        without.append(timed(plain))
        with_.append(timed(audited))
    engine.dispose()
    return {
        "without": statistics.median(without),
        "with": statistics.median(with_),
        "without_mean": statistics.fmean(without),
        "with_mean": statistics.fmean(with_),
        "append": statistics.median(inside),
    }


def timed(op: Callable[[], object]) -> float:
    """Microseconds one call takes."""
    start = time.perf_counter_ns()
    op()
    return (time.perf_counter_ns() - start) / 1000


def synthetic_log(engine: Engine, events: int) -> list[bytes]:
    """Bulk-write a valid chain of ``events``; returns the bytes each link hashes (prev || canonical)."""
    hashed, prev, batch = [], GENESIS_HASH, []
    for seq in range(1, events + 1):
        event = AuditEvent(
            seq=seq,
            at=T0 + timedelta(milliseconds=seq),
            actor="device-0123456789abcdef",
            action="content.open",
            subject=uuid.UUID(int=seq).hex,
            household_id="hh-0123456789abcdef",
            reason="review",
            details={"kind": "audio"},
            prev_hash=prev,
        )
        data = prev + audit.canonical(event)
        event.entry_hash = hashlib.sha256(data).digest()
        hashed.append(data)
        batch.append({c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns})
        prev = event.entry_hash
        if len(batch) == INSERT_BATCH:
            with engine.begin() as conn:
                conn.execute(insert(AuditEvent), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), batch)
    return hashed


def raw_sha256_s(chunks: list[bytes]) -> float:
    """Seconds to SHA-256 each chunk, plus one leaf and ~one node hash per chunk (what verify hashes)."""
    start = time.perf_counter()
    for data in chunks:
        digest = hashlib.sha256(data).digest()
        leaf = hashlib.sha256(b"\x00" + digest).digest()
        hashlib.sha256(b"\x01" + leaf + digest).digest()
    return time.perf_counter() - start


def log_figures(url: str, events: int, tmp: Path) -> dict[str, float]:
    """Seconds for checkpoint, verify, prove and the raw hashing baseline, on ``events`` events."""
    engine = fresh_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("DELETE FROM audit_events"))
    sessions = make_sessionmaker(engine)
    chunks = synthetic_log(engine, events)
    signer = ensure_signing_key(tmp / f"key-{uuid.uuid4().hex[:6]}")
    figures: dict[str, float] = {}
    start = time.perf_counter()
    with transaction(sessions) as s:
        checkpoint(s, signer)
    figures["checkpoint"] = time.perf_counter() - start
    with sessions() as s:
        start = time.perf_counter()
        report = verify(s, signer.public_key)
        figures["verify"] = time.perf_counter() - start
        assert report.ok and report.events == events, report.problems
        start = time.perf_counter()
        prove(s, events // 3)
        figures["prove"] = time.perf_counter() - start
        tracemalloc.start()
        verify(s, signer.public_key)
        figures["verify_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    figures["raw"] = raw_sha256_s(chunks)
    engine.dispose()
    return figures


def main() -> None:
    """Print the two tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        overhead, logs = [], []
        for name, url in databases(tmp):
            o = append_overhead(url, args.requests)
            overhead.append(
                f"| {name:<10} | {args.requests:>8} | {o['without']:>10.0f} | {o['with']:>10.0f} | "
                f"{o['with'] / o['without']:>5.2f} | {o['without_mean']:>10.0f} | "
                f"{o['with_mean']:>10.0f} | {o['with_mean'] / o['without_mean']:>5.2f} | "
                f"{o['append']:>12.0f} |"
            )
            f = log_figures(url, args.events, tmp)
            rate, raw_rate = args.events / f["verify"], args.events / f["raw"]
            logs.append(
                f"| {name:<10} | {args.events:>8} | {rate:>12,.0f} | {raw_rate:>12,.0f} | "
                f"{raw_rate / rate:>10.1f} | {f['verify_peak_mib']:>9.1f} | "
                f"{f['checkpoint']:>8.2f} | {f['prove']:>9.2f} |"
            )
    print("\nAppend overhead per request: a one-row transaction without / with audit.append (µs)")
    print(
        "| database   | requests | median w/o | median w/  | ratio | mean w/o   | mean w/    | ratio "
        "| append alone |"
    )
    print(
        "|------------|----------|------------|------------|-------|------------|------------|-------"
        "|--------------|"
    )
    print("\n".join(overhead))
    print("\nVerify throughput (chain + signed roots) beside raw SHA-256 of the same bytes")
    print(
        "| database   | events   | verify ev/s  | raw ev/s     | raw/verify | peak MiB  "
        "| ckpt (s) | prove (s) |"
    )
    print(
        "|------------|----------|--------------|--------------|------------|-----------"
        "|----------|-----------|"
    )
    print("\n".join(logs))


if __name__ == "__main__":
    main()
