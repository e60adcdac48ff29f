"""Inclusion and consistency proofs over the stored log, against signed checkpoints (RFC 6962 §2.1.1-2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import AuditEvent
from ..errors import Conflict, NotFound
from ._rows import range_root
from .checkpoints import Checkpoint, checkpoint_at, latest_checkpoint
from .merkle import (
    consistency_path,
    inclusion_path,
    leaf_hash,
    verify_consistency_path,
    verify_inclusion_path,
)
from .signing import TreeHead


@dataclass(frozen=True)
class InclusionProof:
    """Evidence that one event is leaf ``leaf_index`` of the tree a checkpoint signed."""

    seq: int
    leaf_index: int
    """``seq - 1``."""
    tree_size: int
    """Size of the checkpoint the proof is against."""
    entry_hash: bytes
    """The event's entry hash (the leaf data)."""
    path: tuple[bytes, ...]
    """Audit path, leaf side first."""
    head: TreeHead
    """The signed tree head at ``tree_size``."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (hex hashes) that an auditor can check offline."""
        return {
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "entry_hash": self.entry_hash.hex(),
            "path": [h.hex() for h in self.path],
            "tree_head": self.head.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InclusionProof:
        """The inverse of :meth:`to_json`."""
        return cls(
            seq=int(data["seq"]),
            leaf_index=int(data["leaf_index"]),
            tree_size=int(data["tree_size"]),
            entry_hash=bytes.fromhex(data["entry_hash"]),
            path=tuple(bytes.fromhex(h) for h in data["path"]),
            head=TreeHead.from_json(data["tree_head"]),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """Evidence that the tree of ``old_size`` events is a prefix of the tree of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (hex hashes)."""
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [h.hex() for h in self.path],
        }


def _head_for(session: Session, tree_size: int | None) -> Checkpoint:
    row = latest_checkpoint(session) if tree_size is None else checkpoint_at(session, tree_size)
    if row is None:
        raise NotFound("no such audit checkpoint; run `overheard audit checkpoint`")
    return row


def prove(session: Session, seq: int, *, tree_size: int | None = None) -> InclusionProof:
    """An inclusion proof of event ``seq`` against the latest checkpoint (or the one of ``tree_size``)."""
    head = _head_for(session, tree_size)
    if not 1 <= seq <= head.tree_size:
        raise Conflict(
            f"event {seq} is not covered by checkpoint {head.tree_size}", code="not_checkpointed"
        )
    entry = session.scalar(select(AuditEvent.entry_hash).where(AuditEvent.seq == seq))
    if entry is None:
        raise NotFound(f"audit event {seq} is missing")
    path = inclusion_path(seq - 1, head.tree_size, lambda lo, hi: range_root(session, lo, hi))
    return InclusionProof(seq, seq - 1, head.tree_size, entry, tuple(path), head.head())


def verify_inclusion(proof: InclusionProof, leaf_entry_hash: bytes, root: bytes) -> bool:
    """True when ``proof`` shows the event with ``leaf_entry_hash`` is in the tree with ``root``."""
    return verify_inclusion_path(
        proof.leaf_index, proof.tree_size, leaf_hash(leaf_entry_hash), proof.path, root
    )


def prove_consistency(session: Session, old_size: int, new_size: int) -> ConsistencyProof:
    """A consistency proof between two stored checkpoints."""
    for size in (old_size, new_size):
        _head_for(session, size)
    if old_size > new_size:
        raise Conflict("the old checkpoint must not be larger than the new one")
    path = consistency_path(old_size, new_size, lambda lo, hi: range_root(session, lo, hi))
    return ConsistencyProof(old_size, new_size, tuple(path))


def verify_consistency(proof: ConsistencyProof, old_root: bytes, new_root: bytes) -> bool:
    """True when ``proof`` shows the tree ``old_root`` is a prefix of the tree ``new_root``."""
    return verify_consistency_path(proof.old_size, proof.new_size, old_root, new_root, proof.path)
