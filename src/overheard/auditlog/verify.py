"""Verify the whole log: the hash chain, every checkpoint's signature, and every signed root.

One pass over the events in ``seq`` order (streamed), with a compact range of O(log n) subtree roots;
whenever the pass reaches a checkpoint's tree size, the recomputed root must equal the signed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import EventFields
from ._rows import iter_entry_hashes, iter_events, seq_of_entry
from .chain import ChainFault, Fault, walk_chain
from .checkpoints import Checkpoint
from .merkle import CompactRange
from .signing import TreeHead, key_id


@dataclass(frozen=True)
class Problem:
    """One thing found wrong."""

    fault: Fault
    seq: int | None
    """First bad event (for a root mismatch: the first event that may have changed)."""
    tree_size: int | None
    """The checkpoint concerned, if any."""
    detail: str

    def __str__(self) -> str:
        where = [f"seq {self.seq}"] if self.seq is not None else []
        where += [f"checkpoint {self.tree_size}"] if self.tree_size is not None else []
        return f"{', '.join(where)}: {self.fault.value}: {self.detail}"


@dataclass(frozen=True)
class Report:
    """Outcome of :func:`verify`."""

    events: int
    """Events that verified before the first break (all of them when the chain is intact)."""
    checkpoints: int
    """Signed tree heads checked (stored and given)."""
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """The lowest event sequence number named by a problem."""
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    @property
    def first(self) -> Problem | None:
        """The problem to show first: the lowest seq, then checkpoint problems."""
        ranked = sorted(self.problems, key=lambda p: (p.seq is None, p.seq or 0, p.tree_size or 0))
        return ranked[0] if ranked else None


PublicKeys = Ed25519PublicKey | Sequence[Ed25519PublicKey]


def verify(session: Session, public_key: PublicKeys, *, heads: Iterable[TreeHead] = ()) -> Report:
    """Check the chain, the stored checkpoints and ``heads`` (tree heads published earlier)."""
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    stored = [row.head() for row in session.scalars(select(Checkpoint))]
    all_heads = sorted([*stored, *heads], key=lambda h: h.tree_size)
    checked = [(head, _signature_problem(head, keys)) for head in all_heads]
    problems = [problem for _, problem in checked if problem is not None]
    trusted = [head for head, problem in checked if problem is None]
    roots = _RootChecker(trusted)
    with closing(iter_events(session)) as events:
        count, fault = walk_chain(
            events, on_event=roots.add, lookup=lambda h: seq_of_entry(session, h)
        )
    problems += roots.problems
    if fault is not None:
        fault = _settle_ambiguity(session, fault, trusted)
        problems.append(Problem(fault.fault, fault.seq, None, fault.detail))
    else:
        problems += _truncation(count, trusted)
    return Report(count, len(all_heads), tuple(problems))


def _settle_ambiguity(session: Session, fault: ChainFault, trusted: list[TreeHead]) -> ChainFault:
    """Use a signed root covering the break to tell a rewritten event from a relinked next one."""
    if fault.earlier_hash is None:
        return fault
    covering = [h for h in trusted if h.tree_size > fault.seq]
    if not covering:
        return fault
    head = covering[0]
    if _root_with(session, head.tree_size, fault.seq, fault.earlier_hash) == head.root_hash:
        detail = f"rewritten with its hash recomputed (the checkpoint at {head.tree_size} shows it)"
        return replace(fault, detail=detail, earlier_hash=None)
    nxt = fault.seq + 1
    detail = f"relinked: it does not link to event {fault.seq}, which the checkpoint confirms"
    return replace(fault, seq=nxt, detail=detail, earlier_hash=None)


def _root_with(session: Session, size: int, seq: int, leaf: bytes) -> bytes | None:
    """The Merkle root of the first ``size`` events with event ``seq``'s leaf replaced."""
    compact = CompactRange()
    with closing(iter_entry_hashes(session, 0, size)) as leaves:
        for at, entry_hash in leaves:
            compact.append(leaf if at == seq else entry_hash)
    return compact.root() if compact.size == size else None


def _signature_problem(head: TreeHead, keys: list[Ed25519PublicKey]) -> Problem | None:
    key = next((k for k in keys if key_id(k) == head.key_id), None)
    if key is None:
        return Problem(Fault.UNKNOWN_KEY, None, head.tree_size, f"signed by key {head.key_id}")
    if not head.signed_by(key):
        return Problem(Fault.BAD_SIGNATURE, None, head.tree_size, "signature does not verify")
    return None


def _truncation(count: int, trusted: list[TreeHead]) -> list[Problem]:
    largest = max((h.tree_size for h in trusted), default=0)
    if largest <= count:
        return []
    detail = f"the log ends at {count} but a checkpoint signed {largest} events (truncated)"
    return [Problem(Fault.MISSING, count + 1, largest, detail)]


class _RootChecker:
    """Feeds entry hashes into a compact range and compares roots at each signed tree size."""

    def __init__(self, heads: list[TreeHead]) -> None:
        self._heads = [h for h in heads if h.tree_size > 0]
        self._next = 0
        self._compact = CompactRange()
        self._last_good = 0
        self.problems: list[Problem] = []

    def add(self, event: EventFields) -> None:
        self._compact.append(event.entry_hash)
        size = self._compact.size
        while self._next < len(self._heads) and self._heads[self._next].tree_size == size:
            self._compare(self._heads[self._next])
            self._next += 1

    def _compare(self, head: TreeHead) -> None:
        if self._compact.root() == head.root_hash:
            if not self.problems:
                self._last_good = head.tree_size
            return
        if not self.problems:
            span = f"{self._last_good + 1}..{head.tree_size}"
            detail = f"recomputed root differs from the signed one: events {span} were rewritten"
            self.problems.append(
                Problem(Fault.ROOT_MISMATCH, self._last_good + 1, head.tree_size, detail)
            )
