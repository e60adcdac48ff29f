"""The train / held-out split: by household, recorded per recording the first time it is used.

A new recording falls on the side of its household (a hash of the household id), so one household's
voice, room and habits never sit on both sides. The hash makes the split deterministic and independent
of the order clips arrive in; recording it in ``learn_splits`` keeps a clip on its side even if the
held-out share is changed later, so a clip that trained a model is never used to evaluate one.
Sentences are kept apart at evaluation (:func:`new_wording`): a held-out clip whose sentence was said
on the train side, or is a seed training request, or whose household also has training clips (a side
recorded before this rule, or pinned) is not scored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import SplitAssignment, SplitName

HELDOUT_PERCENT = 20
"""Default share of reviewed clips kept for evaluation, percent."""
SPLIT_SALT = b"overheard/learn/split/household/v2|"
"""Hash domain of the split (changing it would reshuffle every clip that is not yet recorded)."""
BUCKETS = 100
WAKE_WORDS = ("alexa",)
"""Left out of a sentence's key: the pipeline cuts the wake word off before the recogniser."""


def hashed_split(key: str, heldout_percent: int = HELDOUT_PERCENT) -> SplitName:
    """The side a key (a household id) falls on by hash alone."""
    if not 0 <= heldout_percent <= BUCKETS:
        raise ValueError(f"heldout_percent must be within 0–100, got {heldout_percent}")
    digest = hashlib.sha256(SPLIT_SALT + key.encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    return SplitName.HELDOUT if bucket < heldout_percent else SplitName.TRAIN


def assign_splits(
    session: Session,
    clips: Iterable[tuple[str, str]],
    *,
    heldout_percent: int = HELDOUT_PERCENT,
    now: datetime | None = None,
) -> dict[str, SplitName]:
    """Each recording's split from ``(recording id, household id)`` pairs: the recorded one, or its
    household's side, recorded now."""
    households = dict(clips)
    ids = sorted(households)
    known = _recorded(session, ids)
    when = now or utcnow()
    for rid in ids:
        if rid not in known:
            known[rid] = hashed_split(households[rid], heldout_percent)
            session.add(SplitAssignment(recording_id=rid, split=known[rid].value, assigned_at=when))
    session.flush()
    return known


def sentence_key(text: str, wake_words: Sequence[str] = WAKE_WORDS) -> str:
    """A sentence as compared across sides: lowercase words, no punctuation, no wake word."""
    drop = {w.casefold() for w in wake_words}
    words = re.findall(r"[a-z0-9']+", text.casefold())
    return " ".join(w for w in words if w not in drop)


@dataclass(frozen=True)
class NewWording:
    """Held-out items kept for scoring, and how many were left out and why."""

    kept: list[int]
    """Indexes into the held-out items."""
    same_sentence: int
    """Left out: the sentence was said on the train side (or is a seed training request)."""
    same_household: int
    """Left out: the household also has clips on the train side."""


def new_wording(
    heldout: Sequence[tuple[str, str]],
    train: Iterable[tuple[str, str]],
    also_trained_on: Iterable[str] = (),
) -> NewWording:
    """Which held-out ``(household id, sentence)`` items share neither household nor sentence with
    the train side's items (nor a sentence with ``also_trained_on``)."""
    train_households: set[str] = set()
    train_sentences = {sentence_key(t) for t in also_trained_on}
    for household, text in train:
        train_households.add(household)
        train_sentences.add(sentence_key(text))
    kept, same_sentence, same_household = [], 0, 0
    for i, (household, text) in enumerate(heldout):
        if household in train_households:
            same_household += 1
        elif sentence_key(text) in train_sentences:
            same_sentence += 1
        else:
            kept.append(i)
    return NewWording(kept, same_sentence, same_household)


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
