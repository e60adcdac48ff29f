"""The audit log: one append-only, hash-chained table, written inside the action's own transaction.

Each event commits to the previous one (``entry_hash = SHA-256(prev_hash || canonical(event))``), so
changing, deleting, inserting or reordering a row breaks the chain from that row on. Events hold ids
and hashes, never content, so deleting content never breaks verification. Signed Merkle checkpoints,
proofs and full verification live in :mod:`overheard.auditlog` (see ``docs/audit.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Integer, LargeBinary, String, event, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, utcnow

GENESIS_HASH = b"\0" * 32
"""The ``prev_hash`` of the first event."""
PG_AUDIT_LOCK_ID = 0x6F76657268656172
"""PostgreSQL advisory-lock id that serialises appends so the chain never forks."""
HEAD_INFO = "overheard.audit_head"
"""``Session.info`` key of the chain head this session's current transaction appended last."""
LATER_INFO = "overheard.audit_later"
"""``Session.info`` key of the rows :func:`append_later` left for :func:`write_pending`."""


class AuditEvent(Base):
    """One audited action."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    household_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)


class EventFields(Protocol):
    """What the chain reads from an event: an ``AuditEvent`` or a plain result row of its columns."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def household_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> bytes: ...
    @property
    def entry_hash(self) -> bytes: ...


def canonical(event: EventFields) -> bytes:
    """The bytes an event's hash commits to (sorted-key JSON, UTC microsecond time)."""
    return _canonical(
        event.seq, event.at, event.actor, event.action, event.subject, event.household_id,
        event.reason, event.details,
    )  # fmt: skip


def _canonical(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    household_id: str | None,
    reason: str | None,
    details: Mapping[str, Any],
) -> bytes:
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "household_id": household_id,
        "reason": reason,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(prev_hash: bytes, event: EventFields) -> bytes:
    """The hash of ``event`` chained onto ``prev_hash``."""
    return hashlib.sha256(prev_hash + canonical(event)).digest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    household_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    flush: bool = True,
) -> AuditEvent:
    """Append an event in the caller's transaction; it commits or rolls back with the action.

    ``details`` must be canonical JSON: string keys only (``{1: …, "1": …}`` would be written with
    a repeated key), finite numbers; anything else is refused before it is written. With
    ``flush=False`` the row is written at the session's next flush (one INSERT for many events).
    """
    row = next_event(
        session, actor=actor, action=action, subject=subject, household_id=household_id,
        reason=reason, details=details, now=now,
    )  # fmt: skip
    event = AuditEvent(**row)
    session.add(event)
    if flush:
        session.flush()
    return event


def next_event(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    household_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The next event of the chain as a row of ``audit_events`` (every column), for the caller to
    insert in this transaction without the ORM (:data:`INSERT_EVENT`); the chain's head moves on
    to it as :func:`append` moves it. The caller must insert it before the transaction commits,
    or roll back: a later event chains onto it."""
    _check_canonical(details or {})
    seq, prev = _head(session)
    at = now or utcnow()
    body = dict(details or {})
    entry = hashlib.sha256(
        prev + _canonical(seq, at, actor, action, subject, household_id, reason, body)
    ).digest()
    session.info[HEAD_INFO] = (session.get_transaction(), seq, entry)
    return {
        "seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
        "household_id": household_id, "reason": reason, "details": body, "prev_hash": prev,
        "entry_hash": entry,
    }  # fmt: skip


INSERT_EVENT = insert(AuditEvent.__table__)  # type: ignore[arg-type]
"""The Core INSERT of rows made by :func:`next_event` (built once)."""


def append_now(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    household_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """``append``, written at once by one :data:`INSERT_EVENT` instead of the session's unit of
    work; the event's ``seq``.

    The same row and chain hash as ``append`` (same columns, types and values). Nothing pending
    in the session is written with it, so a caller whose rows must be written before the event
    flushes them first; the session does not hold the event as an ``AuditEvent``.
    """
    row = next_event(
        session, actor=actor, action=action, subject=subject, household_id=household_id,
        reason=reason, details=details, now=now,
    )  # fmt: skip
    session.connection().execute(INSERT_EVENT, row)
    seq: int = row["seq"]
    return seq


def append_later(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    household_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """``append``, its row kept (not as an ``AuditEvent``) until :func:`write_pending` writes it
    with the transaction's other pending events in one INSERT, at the latest when the transaction
    commits; the event's ``seq``. A rollback discards it with the transaction."""
    row = next_event(
        session, actor=actor, action=action, subject=subject, household_id=household_id,
        reason=reason, details=details, now=now,
    )  # fmt: skip
    transaction = session.get_transaction()
    kept = session.info.get(LATER_INFO)
    if kept is None or kept[0] is not transaction:
        kept = session.info[LATER_INFO] = (transaction, [])
        event.listen(session, "before_commit", write_pending, once=True)
    kept[1].append(row)
    seq: int = row["seq"]
    return seq


def write_pending(session: Session) -> None:
    """Write this transaction's events not yet written — kept by :func:`append_later` or added
    by ``append(..., flush=False)`` — by one :data:`INSERT_EVENT`, after the session's other
    pending rows (flushed first): the same rows the unit of work would write, without it."""
    kept = session.info.pop(LATER_INFO, None)
    rows = list(kept[1]) if kept is not None and kept[0] is session.get_transaction() else []
    events = [row for row in session.new if isinstance(row, AuditEvent)]
    for added in events:
        session.expunge(added)
    session.flush()
    rows += [{column: getattr(added, column) for column in _COLUMN_NAMES} for added in events]
    if rows:
        rows.sort(key=lambda row: row["seq"])
        session.connection().execute(INSERT_EVENT, rows)


_EVENTS = AuditEvent.__table__.c
_COLUMN_NAMES = tuple(column.key for column in _EVENTS)
_LAST_EVENT = select(_EVENTS.seq, _EVENTS.entry_hash).order_by(_EVENTS.seq.desc()).limit(1)
"""The chain's head (built once: every writing transaction that audits reads it), a Core
statement run on the session's connection: it needs none of the ORM's execution."""
_PG_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(:id)").bindparams(id=PG_AUDIT_LOCK_ID)


def _head(session: Session) -> tuple[int, bytes]:
    """The next ``seq`` and the hash to chain onto, read once per transaction.

    The first append of a transaction takes the append lock (PostgreSQL advisory lock; on SQLite
    the write transaction already holds the database lock) and reads the last event; later appends
    in the same transaction still hold that lock, so the head they left is still the head.
    """
    known = session.info.get(HEAD_INFO)
    if known is not None and known[0] is session.get_transaction():
        return known[1] + 1, known[2]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_APPEND_LOCK)
    # No event of this transaction is pending (its head would be known): the rows the caller left
    # unflushed can wait for its one flush rather than be written before this read (executed on
    # the connection, the read does not flush the session).
    last = connection.execute(_LAST_EVENT).first()
    return (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)


def _check_canonical(value: Any, where: str = "details") -> None:
    """Raise ValueError unless ``value`` is JSON with string keys and finite numbers only."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            _check_canonical(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_canonical(item, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a JSON number")
    elif not isinstance(value, str | int | float | bool | type(None)):
        raise ValueError(f"{where}: {type(value).__name__} is not JSON")


@dataclass(frozen=True)
class ChainReport:
    """Outcome of walking the chain."""

    events: int
    first_bad_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """True when every event links to the one before it."""
        return self.first_bad_seq is None


def verify_events(events: Iterable[EventFields]) -> ChainReport:
    """Walk events in ``seq`` order and name the first that breaks the chain."""
    from .auditlog.chain import walk_chain

    count, fault = walk_chain(events)
    if fault is None:
        return ChainReport(count, None, None)
    return ChainReport(count, fault.seq, f"{fault.fault.value}: {fault.detail}")


def verify_chain(session: Session) -> ChainReport:
    """Verify the whole stored chain (the signed checkpoints are checked by ``auditlog.verify``)."""
    from .auditlog._rows import iter_events, seq_of_entry
    from .auditlog.chain import walk_chain

    with closing(iter_events(session)) as events:
        count, fault = walk_chain(events, lookup=lambda h: seq_of_entry(session, h))
    if fault is None:
        return ChainReport(count, None, None)
    return ChainReport(count, fault.seq, f"{fault.fault.value}: {fault.detail}")
