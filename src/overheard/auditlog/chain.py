"""Walking the hash chain in ``seq`` order and naming the first event that breaks it, and how."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from ..audit import GENESIS_HASH, AuditEvent, EventFields, chain_hash

RENUMBER_SEARCH = 1000
"""How many deleted events to consider when an event's hash only fits a higher ``seq``."""

Lookup = Callable[[bytes], int | None]
"""``lookup(entry_hash)`` → the ``seq`` of the stored event with that entry hash, if any."""


class Fault(StrEnum):
    """What is wrong at the first bad place in the log."""

    CONTENT_CHANGED = "content changed"
    LINK_BROKEN = "link broken"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    BAD_SIGNATURE = "bad signature"
    UNKNOWN_KEY = "unknown key"
    ROOT_MISMATCH = "root mismatch"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class ChainFault:
    """The first event that breaks the chain."""

    seq: int
    """Sequence number of the first bad event."""
    fault: Fault
    detail: str
    earlier_hash: bytes | None = None
    """When ``seq`` is only suspected (rewritten and rehashed, or the next event relinked): the
    hash the next event says ``seq`` had, so a signed root can tell which of the two happened."""


class _Peekable:
    """An iterator whose next item can be looked at without taking it."""

    def __init__(self, items: Iterable[EventFields]) -> None:
        self._it: Iterator[EventFields] = iter(items)
        self._next: EventFields | None = None

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> EventFields:
        if self._next is not None:
            item, self._next = self._next, None
            return item
        return next(self._it)

    def peek(self) -> EventFields | None:
        if self._next is None:
            self._next = next(self._it, None)
        return self._next


def walk_chain(
    events: Iterable[EventFields],
    *,
    on_event: Callable[[EventFields], None] | None = None,
    lookup: Lookup | None = None,
) -> tuple[int, ChainFault | None]:
    """Check events in ``seq`` order; ``(events that verified, first fault or None)``.

    ``on_event`` sees every event that verified, in order; ``lookup`` (optional) lets the diagnosis
    tell a reordered event from a forged one.
    """
    stream = _Peekable(events)
    prev, before_prev, expected = GENESIS_HASH, b"", 1
    for event in stream:
        broken = getattr(event, "malformed", None)
        if broken is not None:
            return expected - 1, ChainFault(event.seq, Fault.MALFORMED, f"unreadable: {broken}")
        if event.seq != expected:
            gap = f"{expected}..{event.seq - 1}" if event.seq - 1 > expected else f"{expected}"
            return expected - 1, ChainFault(expected, Fault.MISSING, f"event {gap} deleted")
        if event.prev_hash != prev or chain_hash(prev, event) != event.entry_hash:
            return expected - 1, _diagnose(event, prev, before_prev, stream, lookup)
        if on_event is not None:
            on_event(event)
        before_prev, prev, expected = prev, event.entry_hash, expected + 1
    return expected - 1, None


def _diagnose(
    event: EventFields, prev: bytes, before_prev: bytes, stream: _Peekable, lookup: Lookup | None
) -> ChainFault:
    seq = event.seq
    if event.prev_hash == prev:
        after = stream.peek()
        if after is not None and after.prev_hash == prev:
            return ChainFault(seq, Fault.INSERTED, f"event {seq + 1} links past it")
        return ChainFault(seq, Fault.CONTENT_CHANGED, "its fields no longer match its hash")
    if event.prev_hash == before_prev:
        return ChainFault(seq - 1, Fault.INSERTED, f"event {seq} links past it")
    after = stream.peek()
    if after is not None and after.prev_hash == prev and after.entry_hash != event.prev_hash:
        return ChainFault(seq, Fault.INSERTED, f"event {seq + 1} links past it")
    linked = lookup(event.prev_hash) if lookup is not None else None
    if linked is not None and linked >= seq:
        return ChainFault(seq, Fault.REORDERED, f"it belongs after the event now at seq {linked}")
    if linked is not None:
        return ChainFault(linked + 1, Fault.INSERTED, f"event {seq} links past it to {linked}")
    deleted = _renumbered_by(event)
    if deleted:
        return ChainFault(
            seq, Fault.MISSING, f"{deleted} event(s) before it deleted, rest renumbered"
        )
    if seq > 1 and chain_hash(event.prev_hash, event) == event.entry_hash:
        # The event is whole but links to a hash no stored event has: either the event before it
        # was rewritten with its hash recomputed, or this one was relinked. The two leave the same
        # bytes, so the earlier of the two is named: a verifier must never point past a change.
        return ChainFault(
            seq - 1,
            Fault.LINK_BROKEN,
            f"event {seq - 1} was rewritten (its hash recomputed) or event {seq} relinked",
            earlier_hash=event.prev_hash,
        )
    return ChainFault(seq, Fault.LINK_BROKEN, "it does not link to the event before it")


def _renumbered_by(event: EventFields) -> int:
    """How far ``event`` was moved down, when its hash fits a higher ``seq`` (0 if none fits)."""
    for shift in range(1, RENUMBER_SEARCH + 1):
        moved = AuditEvent(
            seq=event.seq + shift,
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            household_id=event.household_id,
            reason=event.reason,
            details=event.details,
        )
        if chain_hash(event.prev_hash, moved) == event.entry_hash:
            return shift
    return 0
