"""The train / held-out split: a hash of the recording id, recorded the first time it is used.

The hash makes the split deterministic and independent of the order clips arrive in; recording it in
``learn_splits`` keeps a clip on its side even if the held-out share is changed later, so a clip that
trained a model is never used to evaluate one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import SplitAssignment, SplitName

HELDOUT_PERCENT = 20
"""Default share of reviewed clips kept for evaluation, percent."""
SPLIT_SALT = b"overheard/learn/split/v1|"
"""Hash domain of the split (changing it would reshuffle every clip that is not yet recorded)."""
BUCKETS = 100


def hashed_split(recording_id: str, heldout_percent: int = HELDOUT_PERCENT) -> SplitName:
    """The side a recording falls on by hash alone."""
    if not 0 <= heldout_percent <= BUCKETS:
        raise ValueError(f"heldout_percent must be within 0–100, got {heldout_percent}")
    digest = hashlib.sha256(SPLIT_SALT + recording_id.encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    return SplitName.HELDOUT if bucket < heldout_percent else SplitName.TRAIN


def assign_splits(
    session: Session,
    recording_ids: Iterable[str],
    *,
    heldout_percent: int = HELDOUT_PERCENT,
    now: datetime | None = None,
) -> dict[str, SplitName]:
    """Each recording's split: the recorded one, or a new hashed one that is recorded now."""
    ids = sorted(set(recording_ids))
    known = _recorded(session, ids)
    when = now or utcnow()
    for rid in ids:
        if rid not in known:
            known[rid] = hashed_split(rid, heldout_percent)
            session.add(SplitAssignment(recording_id=rid, split=known[rid].value, assigned_at=when))
    session.flush()
    return known


def _recorded(session: Session, ids: list[str]) -> dict[str, SplitName]:
    found: dict[str, SplitName] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(SplitAssignment.recording_id, SplitAssignment.split).where(
                SplitAssignment.recording_id.in_(chunk)
            )
        )
        found.update((rid, SplitName(split)) for rid, split in rows)
    return found


def pin_split(
    session: Session, recording_id: str, split: SplitName, *, now: datetime | None = None
) -> None:
    """Record a recording's split explicitly (before any training sees it); refuses to move one."""
    found = session.get(SplitAssignment, recording_id)
    if found is not None and found.split != split.value:
        raise ValueError(f"{recording_id} is already on the {found.split} side")
    if found is None:
        session.add(
            SplitAssignment(
                recording_id=recording_id, split=split.value, assigned_at=now or utcnow()
            )
        )
        session.flush()
