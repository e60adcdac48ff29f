"""Checkpoints, periodic checkpointing, and proofs over the stored log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from overheard.audit import AuditEvent
from overheard.auditlog import (
    Checkpoint,
    Checkpointer,
    checkpoint,
    latest_checkpoint,
    maybe_checkpoint,
    prove,
    prove_consistency,
    verify,
    verify_consistency,
    verify_inclusion,
)
from overheard.auditlog.merkle import root_of
from overheard.db import transaction
from overheard.errors import Conflict, NotFound

from .conftest import T0


def entries(platform) -> list[bytes]:
    with platform.sessions() as s:
        return list(s.scalars(select(AuditEvent.entry_hash).order_by(AuditEvent.seq)))


def test_checkpoint_signs_the_rfc6962_root_and_is_a_noop_without_news(platform, signer, fill):
    with transaction(platform.sessions) as s:
        assert checkpoint(s, signer, T0) is None  # empty log
    fill(5)
    with transaction(platform.sessions) as s:
        row = checkpoint(s, signer, T0)
        assert checkpoint(s, signer, T0) is None
    assert row.tree_size == 5
    assert row.root_hash == root_of(entries(platform))
    assert row.head().signed_by(signer.public_key)


def test_incremental_checkpoints_match_a_full_recomputation(platform, signer, fill):
    for n in (1, 2, 5, 1, 7):
        fill(n)
        with transaction(platform.sessions) as s:
            row = checkpoint(s, signer, T0)
        assert row.root_hash == root_of(entries(platform))


def test_checkpoint_refuses_to_sign_a_broken_chain(platform, signer, fill):
    fill(3)
    with transaction(platform.sessions) as s:
        checkpoint(s, signer, T0)
    fill(3)
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 5"))
    with pytest.raises(Conflict, match="event 5"), transaction(platform.sessions) as s:
        checkpoint(s, signer, T0)


def test_maybe_checkpoint_by_count_and_by_age(platform, signer, fill):
    fill(3)  # events at T0 .. T0+2s
    due = {"every_events": 5, "every_s": 60.0}
    with transaction(platform.sessions) as s:
        assert maybe_checkpoint(s, signer, now=T0 + timedelta(seconds=30), **due) is None
        assert maybe_checkpoint(s, signer, now=T0 + timedelta(seconds=61), **due).tree_size == 3
    fill(4)
    with transaction(platform.sessions) as s:
        assert maybe_checkpoint(s, signer, now=T0 + timedelta(seconds=62), **due) is None
    fill(1)
    with transaction(platform.sessions) as s:
        assert maybe_checkpoint(s, signer, now=T0 + timedelta(seconds=63), **due).tree_size == 8
        assert maybe_checkpoint(s, signer, now=T0 + timedelta(days=9), **due) is None


def test_checkpointer_tick_and_thread(platform, signer, fill):
    fill(2)
    ticker = Checkpointer(platform.sessions, signer, every_events=2, poll_s=0.05)
    assert ticker.tick() == 2
    assert ticker.tick() is None
    fill(2)
    ticker.start()
    try:
        for _ in range(200):
            with platform.sessions() as s:
                if latest_checkpoint(s).tree_size == 4:
                    break
            ticker._stop.wait(0.05)
    finally:
        ticker.stop()
    with platform.sessions() as s:
        assert latest_checkpoint(s).tree_size == 4
        assert verify(s, signer.public_key).ok


def test_every_event_has_a_valid_inclusion_proof(platform, signer, fill):
    fill(11)
    with transaction(platform.sessions) as s:
        head = checkpoint(s, signer, T0).head()
    fill(2)  # newer than the checkpoint
    leaves = entries(platform)
    with platform.sessions() as s:
        for seq in range(1, 12):
            proof = prove(s, seq)
            assert proof.tree_size == 11 and proof.leaf_index == seq - 1
            assert proof.head == head
            assert verify_inclusion(proof, leaves[seq - 1], head.root_hash)
            assert not verify_inclusion(proof, leaves[seq % 11], head.root_hash)
        with pytest.raises(Conflict):
            prove(s, 12)
        with pytest.raises(NotFound):
            prove(s, 1, tree_size=7)


def test_inclusion_proof_json_round_trips(platform, signer, fill):
    from overheard.auditlog import InclusionProof

    fill(6)
    with transaction(platform.sessions) as s:
        checkpoint(s, signer, T0)
    with platform.sessions() as s:
        proof = prove(s, 4)
    again = InclusionProof.from_json(proof.to_json())
    assert again == proof
    assert verify_inclusion(again, again.entry_hash, again.head.root_hash)
    assert again.head.signed_by(signer.public_key)


def test_consistency_between_checkpoints(platform, signer, fill):
    sizes = []
    for n in (3, 4, 6):
        fill(n)
        with transaction(platform.sessions) as s:
            sizes.append(checkpoint(s, signer, T0).tree_size)
    with platform.sessions() as s:
        rows = {c.tree_size: c.root_hash for c in s.scalars(select(Checkpoint))}
        for old in sizes:
            for new in sizes:
                if old > new:
                    continue
                proof = prove_consistency(s, old, new)
                assert verify_consistency(proof, rows[old], rows[new])
                if old < new:
                    assert not verify_consistency(proof, rows[new], rows[new])
        with pytest.raises(NotFound):
            prove_consistency(s, 2, 7)
