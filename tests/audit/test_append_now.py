"""``append_now`` (one prebuilt INSERT) writes the row ``append`` (the ORM) writes, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from overheard import audit
from overheard.db import transaction

T = audit.AuditEvent.__table__
RAW = select(*(cast(c, Text) if c.name == "details" else c for c in T.c)).order_by(T.c.seq)
"""Every stored column, ``details`` as the stored JSON text."""
AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
FIELDS: dict[str, Any] = {
    "actor": "R-a1",
    "action": "review.submit",
    "subject": "rec-1",
    "household_id": "h-1",
    "reason": "random",
    "details": {"task": "t1", "annotation": "a1", "flags": ["noise", "emergency"], "n": 1.5},
    "now": AT,
}


def _written(session: Session, write: Any) -> list[tuple[Any, ...]]:
    write(session, **FIELDS)
    write(session, **(FIELDS | {"action": "content.open", "details": {}}))  # chained onto the first
    return [tuple(row) for row in session.execute(RAW)]


def test_append_now_stores_the_rows_and_chain_of_append(platform):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        audit.append(s, actor="system", action="test.first")  # a head to chain onto
    with platform.sessions() as s:
        by_orm = _written(s, audit.append)
        s.rollback()
    with transaction(platform.sessions) as s:
        by_insert = _written(s, audit.append_now)
    assert len(by_insert) == 3
    assert by_insert == by_orm  # seq, time, fields, details text, prev and entry hashes
    with transaction(platform.sessions) as s:  # a later ORM append chains onto them
        audit.append(s, actor="system", action="test.after")
    with platform.sessions() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.events == 4


def _later(session: Session, **fields: Any) -> None:
    # one kept by append_later, one added with append(..., flush=False): one INSERT writes both
    audit.append_later(session, **fields)
    audit.append(session, **(fields | {"action": "text.view"}), flush=False)
    audit.write_pending(session)


def _by_orm(session: Session, **fields: Any) -> None:
    audit.append(session, **fields)
    audit.append(session, **(fields | {"action": "text.view"}))


def test_write_pending_stores_the_rows_and_chain_of_append(platform):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        audit.append(s, actor="system", action="test.first")
    with platform.sessions() as s:
        by_orm = _written(s, _by_orm)
        s.rollback()
    with transaction(platform.sessions) as s:
        by_insert = _written(s, _later)
    assert len(by_insert) == 5
    assert by_insert == by_orm
    with platform.sessions() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.events == 5


def test_an_event_kept_for_later_is_written_by_the_commit_and_gone_with_a_rollback(platform):  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        audit.append_later(s, actor="system", action="test.rolled_back")
        s.rollback()
        audit.append_later(s, actor="system", action="test.committed")
        s.commit()  # nobody called write_pending: the commit writes it
    with platform.sessions() as s:
        actions = list(s.scalars(select(audit.AuditEvent.action).order_by(audit.AuditEvent.seq)))
        report = audit.verify_chain(s)
    assert actions == ["test.committed"]
    assert report.ok and report.events == 1
