"""Streaming reads of the audit tables (server-side cursors on PostgreSQL, bounded memory)."""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, func, select, text, type_coerce
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


@dataclass(frozen=True)
class StoredEvent:
    """An event read back field by field; ``malformed`` says why a row could not be read."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    household_id: str | None
    reason: str | None
    details: dict[str, Any]
    prev_hash: bytes
    entry_hash: bytes
    malformed: str | None = None


def iter_events(
    session: Session, after: int = 0, upto: int | None = None
) -> Generator[EventFields, None, None]:
    """Events with ``after < seq <= upto`` in ``seq`` order, streamed (no ORM objects).

    The time and the details are read as stored and parsed here, one row at a time, so a row that
    was edited into something unreadable comes back marked ``malformed`` instead of stopping the
    walk; details with a duplicate key are marked too (SQL would read another value than the hash
    commits to).
    """
    c = AuditEvent.__table__.columns
    raw = [type_coerce(c.at, Text).label("at"), cast(c.details, Text).label("details")]
    others = [col for col in c if col.name not in ("at", "details")]
    query = select(*others, *raw).where(c.seq > after).order_by(c.seq)
    if upto is not None:
        query = query.where(c.seq <= upto)
    rows = session.execute(query.execution_options(yield_per=STREAM_BATCH_ROWS))
    try:
        for row in rows:
            yield _read(row._mapping)
    finally:
        rows.close()  # a walk that stops early must not leave a server-side cursor open


def _read(row: Mapping[str, Any]) -> StoredEvent:
    fields = {name: row[name] for name in _PLAIN}
    try:
        fields["at"] = _time(row["at"])
        fields["details"] = loads_strict(row["details"])
        if not isinstance(fields["details"], dict):
            raise ValueError("details is not a JSON object")
        for name in ("prev_hash", "entry_hash"):
            if not isinstance(row[name], bytes | memoryview):
                raise ValueError(f"{name} is not binary")
            fields[name] = bytes(row[name])
    except (ValueError, TypeError, OverflowError) as exc:
        return StoredEvent(**{**_BLANK, "seq": row["seq"]}, malformed=str(exc)[:200])
    return StoredEvent(**fields)


def loads_strict(text: str | None) -> Any:
    """JSON that may not repeat a key in any object."""
    if text is None:
        return {}
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"details repeat the key(s) {repeated}")
    return dict(pairs)


def _time(value: object) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_PLAIN = ("seq", "actor", "action", "subject", "household_id", "reason")
_BLANK: dict[str, Any] = {
    "at": datetime.min.replace(tzinfo=UTC),
    "actor": "",
    "action": "",
    "subject": None,
    "household_id": None,
    "reason": None,
    "details": {},
    "prev_hash": b"",
    "entry_hash": b"",
}


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
