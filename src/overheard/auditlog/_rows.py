"""Streaming reads of the audit tables (server-side cursors on PostgreSQL, bounded memory)."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from typing import cast

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..audit import PG_AUDIT_LOCK_ID, AuditEvent, EventFields
from ..errors import Conflict
from .merkle import CompactRange

STREAM_BATCH_ROWS = 2000
"""Rows fetched per round trip while streaming the log."""


def lock_log(session: Session) -> None:
    """Serialise with appends and other checkpoints (PostgreSQL; SQLite transactions are IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_AUDIT_LOCK_ID})


def log_size(session: Session) -> int:
    """The highest ``seq`` in the log (0 when empty)."""
    return session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0


def iter_events(
    session: Session, after: int = 0, upto: int | None = None
) -> Generator[EventFields, None, None]:
    """Events with ``after < seq <= upto`` in ``seq`` order, streamed as plain rows (no ORM objects)."""
    columns = AuditEvent.__table__.columns
    query = select(*columns).where(columns.seq > after).order_by(columns.seq)
    if upto is not None:
        query = query.where(columns.seq <= upto)
    rows = session.execute(query.execution_options(yield_per=STREAM_BATCH_ROWS))
    try:
        for event in rows:
            yield cast(EventFields, event)
    finally:
        rows.close()  # a walk that stops early must not leave a server-side cursor open


def iter_entry_hashes(
    session: Session, after: int, upto: int
) -> Generator[tuple[int, bytes], None, None]:
    """``(seq, entry_hash)`` for ``after < seq <= upto`` in order, streamed."""
    query = (
        select(AuditEvent.seq, AuditEvent.entry_hash)
        .where(AuditEvent.seq > after, AuditEvent.seq <= upto)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=STREAM_BATCH_ROWS)
    )
    rows = session.execute(query)
    try:
        yield from ((seq, entry_hash) for seq, entry_hash in rows)
    finally:
        rows.close()


def extend_range(session: Session, compact: CompactRange, upto: int) -> CompactRange:
    """Append the entry hashes of events ``compact.size + 1 .. upto`` to ``compact`` (leaf = entry hash)."""
    with closing(iter_entry_hashes(session, compact.size, upto)) as leaves:
        for seq, entry_hash in leaves:
            if seq != compact.size + 1:
                raise Conflict(
                    f"audit event {compact.size + 1} is missing", code="audit_log_broken"
                )
            compact.append(entry_hash)
    if compact.size != upto:
        raise Conflict(f"audit event {compact.size + 1} is missing", code="audit_log_broken")
    return compact


def range_root(session: Session, lo: int, hi: int) -> bytes:
    """MTH of leaves ``[lo, hi)`` (events ``lo + 1 .. hi``), streamed in O(log n) memory."""
    compact = CompactRange()
    with closing(iter_entry_hashes(session, lo, hi)) as leaves:
        for seq, entry_hash in leaves:
            if seq != lo + compact.size + 1:
                raise Conflict(
                    f"audit event {lo + compact.size + 1} is missing", code="audit_log_broken"
                )
            compact.append(entry_hash)
    if compact.size != hi - lo:
        raise Conflict(f"audit event {lo + compact.size + 1} is missing", code="audit_log_broken")
    return compact.root()


def seq_of_entry(session: Session, entry_hash: bytes) -> int | None:
    """The ``seq`` of the event whose ``entry_hash`` this is, if any (indexed)."""
    return session.scalar(select(AuditEvent.seq).where(AuditEvent.entry_hash == entry_hash))


def tail(session: Session, count: int) -> list[AuditEvent]:
    """The newest ``count`` events, oldest first."""
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(count))
    return list(reversed(rows.all()))
