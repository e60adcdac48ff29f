"""Signed checkpoints: the log's Merkle tree head, signed with a key kept outside the database.

Each checkpoint stores its compact range (``frontier``), so the next one reads only the events added
since; before signing, those new events are checked against the chain, so a broken log is never signed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ..audit import GENESIS_HASH, AuditEvent, EventFields, chain_hash
from ..db import Base, transaction, utcnow
from ..errors import Conflict, safe_trace
from ._rows import extend_range, iter_events, lock_log, log_size
from .merkle import CompactRange
from .signing import Signer, TreeHead, sign_tree_head

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_EVENTS = 1000
"""Default: sign a new tree head once this many events are unsigned."""
CHECKPOINT_EVERY_S = 3600.0
"""Default: sign a new tree head when the newest is this old and events are unsigned (seconds)."""
CHECKPOINT_POLL_S = 30.0
"""Default: how often the background checkpointer looks (seconds)."""


class Checkpoint(Base):
    """A signed tree head over the first ``tree_size`` audit events."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[datetime] = mapped_column()
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)

    def head(self) -> TreeHead:
        """The signed tree head this row holds."""
        return TreeHead(self.tree_size, self.root_hash, self.at, self.key_id, self.signature)


def latest_checkpoint(session: Session) -> Checkpoint | None:
    """The checkpoint with the largest tree size, if any."""
    return session.scalars(
        select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1)
    ).first()


def checkpoint_at(session: Session, tree_size: int) -> Checkpoint | None:
    """The checkpoint of exactly ``tree_size`` events, if one was signed."""
    return session.get(Checkpoint, tree_size)


def checkpoint(session: Session, signer: Signer, now: datetime | None = None) -> Checkpoint | None:
    """Sign the current tree head in the caller's transaction; None when nothing new was appended."""
    lock_log(session)
    size, latest = log_size(session), latest_checkpoint(session)
    base = latest.tree_size if latest else 0
    if size <= base:
        return None
    _check_new_links(session, base, size)
    start = (
        CompactRange.from_frontier(latest.tree_size, latest.frontier) if latest else CompactRange()
    )
    compact = extend_range(session, start, size)
    head = sign_tree_head(signer, size, compact.root(), now or utcnow())
    row = Checkpoint(
        tree_size=size,
        root_hash=head.root_hash,
        at=head.at,
        key_id=head.key_id,
        signature=head.signature,
        frontier=compact.frontier,
    )
    session.add(row)
    session.flush()
    return row


def _check_new_links(session: Session, base: int, size: int) -> None:
    prev = _entry_hash(session, base) if base else GENESIS_HASH
    expected = base + 1
    with closing(iter_events(session, base, size)) as events:
        for event in events:
            _check_link(event, expected, prev)
            prev, expected = event.entry_hash, expected + 1


def _check_link(event: EventFields, expected: int, prev: bytes) -> None:
    readable = getattr(event, "malformed", None) is None
    intact = readable and event.seq == expected and event.prev_hash == prev
    if not intact or chain_hash(prev, event) != event.entry_hash:
        raise Conflict(
            f"audit event {expected} breaks the chain; run `overheard audit verify`",
            code="audit_log_broken",
        )


def _entry_hash(session: Session, seq: int) -> bytes:
    found = session.scalar(select(AuditEvent.entry_hash).where(AuditEvent.seq == seq))
    if found is None:
        raise Conflict(f"audit event {seq} is missing", code="audit_log_broken")
    return found


def checkpoint_due(session: Session, *, every_events: int, every_s: float, now: datetime) -> bool:
    """True when unsigned events exist and there are ``every_events`` of them or they are ``every_s`` old."""
    latest, size = latest_checkpoint(session), log_size(session)
    base = latest.tree_size if latest else 0
    if size <= base:
        return False
    if size - base >= every_events:
        return True
    since = latest.at if latest else _first_unsigned_at(session, base)
    return (now - since).total_seconds() >= every_s


def _first_unsigned_at(session: Session, base: int) -> datetime:
    at = session.scalar(select(AuditEvent.at).where(AuditEvent.seq == base + 1))
    return at if at is not None else utcnow()


def maybe_checkpoint(
    session: Session,
    signer: Signer,
    *,
    every_events: int = CHECKPOINT_EVERY_EVENTS,
    every_s: float = CHECKPOINT_EVERY_S,
    now: datetime | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint when one is due (:func:`checkpoint_due`); cheap when none is."""
    when = now or utcnow()
    if not checkpoint_due(session, every_events=every_events, every_s=every_s, now=when):
        return None
    return checkpoint(session, signer, when)


class Checkpointer:
    """A daemon thread that calls :func:`maybe_checkpoint` every ``poll_s`` seconds in its own transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        signer: Signer,
        *,
        every_events: int = CHECKPOINT_EVERY_EVENTS,
        every_s: float = CHECKPOINT_EVERY_S,
        poll_s: float = CHECKPOINT_POLL_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions, self.signer, self.clock = sessions, signer, clock
        self.every_events, self.every_s, self.poll_s = every_events, every_s, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int | None:
        """Check once; the tree size signed, or None."""
        with transaction(self.sessions) as session:
            row = maybe_checkpoint(
                session,
                self.signer,
                every_events=self.every_events,
                every_s=self.every_s,
                now=self.clock(),
            )
            return row.tree_size if row else None

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="overheard-audit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception as exc:
                log.error("audit checkpoint failed\n%s", safe_trace(exc))
