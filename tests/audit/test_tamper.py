"""Tampering with the stored log by SQL is caught, at the right sequence number, on both databases."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update

from overheard import audit
from overheard.audit import AuditEvent
from overheard.auditlog import Checkpoint, Fault, checkpoint, ensure_signing_key, verify
from overheard.auditlog.signing import sign_tree_head
from overheard.db import transaction

from .conftest import T0

EVENTS = 10


def sign(platform, signer) -> int:
    with transaction(platform.sessions) as session:
        return checkpoint(session, signer, now=T0 + timedelta(hours=1)).tree_size


def check(platform, signer, **kw):
    with platform.sessions() as session:
        return verify(session, signer.public_key, **kw)


def renumber(conn: Connection, first: int, by: int) -> None:
    """Shift every seq >= first by ``by`` (two steps: unique keys are checked row by row)."""
    conn.execute(
        text("UPDATE audit_events SET seq = -(seq + :by) WHERE seq >= :f"), {"by": by, "f": first}
    )
    conn.execute(text("UPDATE audit_events SET seq = -seq WHERE seq < 0"))


def swap(conn: Connection, a: int, b: int) -> None:
    conn.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = :a"), {"a": a})
    conn.execute(text("UPDATE audit_events SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
    conn.execute(text("UPDATE audit_events SET seq = :b WHERE seq = -1"), {"b": b})


def forged(seq: int, prev: bytes) -> dict:
    event = AuditEvent(
        seq=seq,
        at=T0,
        actor="mallory",
        action="content.open",
        subject="rec0001",
        household_id="hh-test",
        reason="curiosity",
        details={},
        prev_hash=prev,
    )
    event.entry_hash = audit.chain_hash(prev, event)
    return {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}


def entry(conn: Connection, seq: int) -> bytes:
    return conn.scalar(select(AuditEvent.entry_hash).where(AuditEvent.seq == seq))


def rehash_from(conn: Connection, first: int) -> None:
    """What an attacker without the signing key can still do: recompute every link after an edit."""
    prev = entry(conn, first - 1)
    rows = conn.execute(select(AuditEvent).where(AuditEvent.seq >= first).order_by(AuditEvent.seq))
    for row in rows.mappings().all():
        event = AuditEvent(**{**row, "prev_hash": prev})
        new = audit.chain_hash(prev, event)
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.seq == row["seq"])
            .values(prev_hash=prev, entry_hash=new)
        )
        prev = new


def edit_field(conn):
    conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"))


def edit_details(conn):
    conn.execute(update(AuditEvent).where(AuditEvent.seq == 6).values(details={"i": 999}))


def delete_one(conn):
    conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))


def delete_and_renumber(conn):
    conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    renumber(conn, 6, -1)


def insert_linked(conn):
    renumber(conn, 4, 1)
    conn.execute(insert(AuditEvent).values(**forged(4, entry(conn, 3))))


def insert_unlinked(conn):
    renumber(conn, 4, 1)
    conn.execute(insert(AuditEvent).values(**forged(4, os.urandom(32))))


def swap_adjacent(conn):
    swap(conn, 4, 5)


def swap_distant(conn):
    swap(conn, 3, 7)


def relink(conn):
    row = conn.execute(select(AuditEvent).where(AuditEvent.seq == 6)).mappings().one()
    event = AuditEvent(**{**row, "prev_hash": os.urandom(32)})
    conn.execute(
        update(AuditEvent)
        .where(AuditEvent.seq == 6)
        .values(prev_hash=event.prev_hash, entry_hash=audit.chain_hash(event.prev_hash, event))
    )


def truncate(conn):
    conn.execute(text("DELETE FROM audit_events WHERE seq > 7"))


def rewrite_and_rehash(conn):
    """Edit event 4 and recompute its own hash (the next event still names the old one)."""
    conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"))
    row = conn.execute(select(AuditEvent).where(AuditEvent.seq == 4)).mappings().one()
    event = AuditEvent(**row)
    conn.execute(
        update(AuditEvent)
        .where(AuditEvent.seq == 4)
        .values(entry_hash=audit.chain_hash(event.prev_hash, event))
    )


def duplicate_key(conn):
    """A details object with a repeated key: the hash reads one value, SQL may read the other."""
    cast = "::json" if conn.dialect.name == "postgresql" else ""
    conn.execute(text(f"UPDATE audit_events SET details = '{{\"i\": 6, \"i\": 999}}'{cast} WHERE seq = 6"))


def unreadable_details(conn):
    conn.execute(text("UPDATE audit_events SET details = '[1, 2]' WHERE seq = 3"))


CASES = [
    (edit_field, Fault.CONTENT_CHANGED, 4),
    (edit_details, Fault.CONTENT_CHANGED, 6),
    (delete_one, Fault.MISSING, 5),
    (delete_and_renumber, Fault.MISSING, 5),
    (insert_linked, Fault.INSERTED, 4),
    (insert_unlinked, Fault.INSERTED, 4),
    (swap_adjacent, Fault.REORDERED, 4),
    (swap_distant, Fault.REORDERED, 3),
    (relink, Fault.LINK_BROKEN, 6),
    (truncate, Fault.MISSING, 8),
    (rewrite_and_rehash, Fault.LINK_BROKEN, 4),
    (duplicate_key, Fault.MALFORMED, 6),
    (unreadable_details, Fault.MALFORMED, 3),
]
CHAIN_ONLY_SEQ = {relink: 5}
"""Without a signed root, a relinked event cannot be told from a rewritten one before it: the
chain alone names the earlier of the two."""


def test_untouched_log_verifies(platform, signer, fill):
    fill(4)
    sign(platform, signer)
    fill(EVENTS - 4)
    sign(platform, signer)
    fill(3)  # not yet signed: still chain-checked
    report = check(platform, signer)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints) == (EVENTS + 3, 2)
    with platform.sessions() as session:
        assert audit.verify_chain(session).ok


@pytest.mark.parametrize(("tamper", "fault", "seq"), CASES, ids=lambda c: getattr(c, "__name__", c))
def test_tampering_names_the_first_bad_seq(platform, signer, fill, tamper, fault, seq):
    fill(EVENTS)
    sign(platform, signer)
    with platform.engine.begin() as conn:
        tamper(conn)
    report = check(platform, signer)
    assert not report.ok
    assert (report.first.fault, report.first_bad_seq) == (fault, seq), report.problems
    if fault is not Fault.MISSING or tamper is not truncate:
        with platform.sessions() as session:
            chain = audit.verify_chain(session)
        expected = CHAIN_ONLY_SEQ.get(tamper, seq)
        assert chain.first_bad_seq == expected and chain.problem.startswith(fault.value)


def test_rewrite_with_rehash_is_named_exactly_without_a_checkpoint(platform, signer, fill):
    fill(EVENTS)
    with platform.engine.begin() as conn:
        rewrite_and_rehash(conn)
    report = check(platform, signer)
    assert (report.first.fault, report.first_bad_seq) == (Fault.LINK_BROKEN, 4), report.problems


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("value", ["not a time", "2026-13-45 99:00:00", "", "0"])
def test_unparsable_time_is_reported_at_its_seq(platform, signer, fill, value):
    fill(EVENTS)
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET at = :v WHERE seq = 7"), {"v": value})
    report = check(platform, signer)
    assert (report.first.fault, report.first_bad_seq) == (Fault.MALFORMED, 7), report.problems


def test_append_refuses_details_that_are_not_canonical_json(platform):
    for details in ({1: "a", "1": "b"}, {"x": float("nan")}, {"x": {2: 3}}, {"x": object()}):
        with pytest.raises(ValueError), transaction(platform.sessions) as session:
            audit.append(session, actor="test", action="probe", details=details)
    with platform.sessions() as session:
        assert audit.verify_chain(session).ok


def test_rewritten_history_is_caught_by_the_checkpoint_after_it(platform, signer, fill):
    for n in (3, 3, 4):
        fill(n)
        sign(platform, signer)
    with platform.engine.begin() as conn:
        edit_field(conn)
        rehash_from(conn, 4)
    with platform.sessions() as session:
        assert audit.verify_chain(session).ok  # the chain alone cannot tell
    report = check(platform, signer)
    problem = report.first
    assert (problem.fault, problem.seq, problem.tree_size) == (Fault.ROOT_MISMATCH, 4, 6)
    assert "4..6" in problem.detail


def test_forged_checkpoint_signature_is_caught(platform, signer, fill):
    fill(EVENTS)
    size = sign(platform, signer)
    with platform.engine.begin() as conn:
        sig = conn.scalar(select(Checkpoint.signature))
        conn.execute(update(Checkpoint).values(signature=bytes([sig[0] ^ 1]) + sig[1:]))
    report = check(platform, signer)
    assert [(p.fault, p.tree_size) for p in report.problems] == [(Fault.BAD_SIGNATURE, size)]


def test_checkpoint_moved_to_a_rewritten_root_is_caught(platform, signer, fill):
    fill(EVENTS)
    sign(platform, signer)
    with platform.engine.begin() as conn:
        edit_field(conn)
        rehash_from(conn, 4)
    with platform.sessions() as session:
        from overheard.auditlog._rows import range_root

        new_root = range_root(session, 0, EVENTS)
    with platform.engine.begin() as conn:
        conn.execute(update(Checkpoint).values(root_hash=new_root))
    report = check(platform, signer)
    assert [p.fault for p in report.problems] == [Fault.BAD_SIGNATURE]


def test_checkpoint_signed_by_another_key_is_caught(platform, signer, fill, tmp_path):
    fill(EVENTS)
    mallory = ensure_signing_key(tmp_path / "mallory.key")
    with transaction(platform.sessions) as session:
        checkpoint(session, mallory)
    report = check(platform, signer)
    assert [(p.fault, p.tree_size) for p in report.problems] == [(Fault.UNKNOWN_KEY, EVENTS)]


def test_published_head_catches_truncation_with_deleted_checkpoints(platform, signer, fill):
    fill(EVENTS)
    with transaction(platform.sessions) as session:
        published = checkpoint(session, signer).head()
    with platform.engine.begin() as conn:
        truncate(conn)
        conn.execute(delete(Checkpoint))
    assert check(platform, signer).ok  # nothing left in the database says otherwise
    report = check(platform, signer, heads=[published])
    assert (report.first.fault, report.first_bad_seq) == (Fault.MISSING, 8)


def test_forged_published_head_is_not_trusted(platform, signer, fill, tmp_path):
    fill(EVENTS)
    mallory = ensure_signing_key(tmp_path / "mallory.key")
    fake = sign_tree_head(mallory, 50, os.urandom(32), T0)
    report = check(platform, signer, heads=[fake])
    assert [(p.fault, p.seq) for p in report.problems] == [(Fault.UNKNOWN_KEY, None)]
