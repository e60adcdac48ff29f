"""The capture times a household deleted, so a clip said then and uploaded later is refused.

A range deletion ("delete 14:00–15:00") or a time-scoped voice deletion ("delete everything I said
today") names a span of capture time; a device that was offline may upload a clip of that span
afterwards. The spans live on the household's key row, which every upload's admission and commit
already read, so the check costs no statement. They are merged, and bounded to ``SPANS_MAX``:
past that the two spans closest together are joined (a clip said in the gap between them is
refused too), and a "delete everything" makes every span before it redundant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ..db import as_utc
from ..keys import DataKey

Span = tuple[datetime, datetime]
"""``[from, to)`` in capture time, aware UTC."""
SPANS_MAX = 32
"""Deleted spans kept per household at most."""


def parse(stored: Sequence[Sequence[str]] | None) -> tuple[Span, ...]:
    """The spans as stored on a key row (ISO strings)."""
    return tuple(
        (as_utc(datetime.fromisoformat(a)), as_utc(datetime.fromisoformat(b)))
        for a, b in stored or ()
    )


def within(spans: Iterable[Span], when: datetime) -> bool:
    """Whether ``when`` falls inside one of ``spans``."""
    return any(start <= when < end for start, end in spans)


def merged(spans: Iterable[Span], floor: datetime | None = None) -> list[Span]:
    """``spans`` sorted, overlapping or touching ones joined, those ending at or before ``floor``
    (the last "delete everything") left out, and at most ``SPANS_MAX`` kept by joining the two
    closest together."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if floor is not None and end <= floor:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    while len(out) > SPANS_MAX:
        i = min(range(len(out) - 1), key=lambda j: out[j + 1][0] - out[j][1])
        out[i : i + 2] = [(out[i][0], out[i + 1][1])]
    return out


def remember(
    session: Session, household_id: str, start: datetime, end: datetime, *, now: datetime
) -> None:
    """Add ``[start, min(end, now))`` to the household's deleted spans, in the deletion's
    transaction (what is said after the deletion was not in it).

    The key row is locked (``FOR UPDATE`` on PostgreSQL): an upload whose commit holds it
    ``FOR SHARE`` finishes first (and its clip is in the deletion), a later one reads the new
    span in its commit (``SealingKey.check_current``) and is refused.
    """
    row = session.get(DataKey, household_id, with_for_update=True)
    if row is None:
        return  # a household without a key row has none to seal an upload with
    floor = as_utc(row.destroyed_at) if row.destroyed_at is not None else None
    spans = merged(
        [*parse(row.deleted_spans), (as_utc(start), min(as_utc(end), as_utc(now)))], floor
    )
    row.deleted_spans = [[a.isoformat(), b.isoformat()] for a, b in spans] or None
