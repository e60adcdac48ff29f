"""Sweeps: orphan blobs (written, never committed), stale temporary files and orphan key shares."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from .. import audit
from ..db import transaction, utcnow
from ..keys import any_key_row, sweep_orphan_shares
from ..platform import Platform
from .models import Recording

AUDIO_PREFIX = "audio/"


def sweep_orphan_blobs(platform: Platform, *, grace_s: float, now: datetime | None = None) -> int:
    """Delete audio blobs older than ``grace_s`` that no recording refers to; returns how many.
    None while no household has a key row (``keys.any_key_row``: a restore may be copying in)."""
    when = now or utcnow()
    cutoff = when - timedelta(seconds=grace_s)
    listed = platform.blobs.list(AUDIO_PREFIX) if any_key_row(platform.sessions) else ()
    candidates = [b.key for b in listed if b.modified_at <= cutoff]
    removed = 0
    for start in range(0, len(candidates), 500):
        batch = candidates[start : start + 500]
        with platform.sessions() as session:
            live = set(
                session.scalars(select(Recording.audio_blob).where(Recording.audio_blob.in_(batch)))
            )
        for key in batch:
            if key not in live:
                platform.blobs.delete(key)
                removed += 1
    sweeper = getattr(platform.blobs, "sweep_temporaries", None)
    if sweeper is not None:
        sweeper(older_than=timedelta(seconds=grace_s), now=when)
    if removed:
        with transaction(platform.sessions) as session:
            audit.append(
                session,
                actor="system",
                action="blobs.sweep",
                now=when,
                details={"orphans_removed": removed},
            )
    return removed


def sweep_orphan_key_shares(platform: Platform, *, now: datetime | None = None) -> int:
    """Erase the key shares no live key row names (a process killed between a "delete everything"
    commit and the erasure of the old share); one audit event per household; returns how many."""
    shares = platform.keyring.shares
    if shares is None:
        return 0
    when = now or utcnow()
    erased = sweep_orphan_shares(platform.sessions, shares)
    if erased:
        with transaction(platform.sessions) as session:
            for household_id in sorted(set(erased)):
                audit.append(
                    session,
                    actor="system",
                    action="keys.shares_sweep",
                    subject=household_id,
                    household_id=household_id,
                    now=when,
                    details={"shares_erased": erased.count(household_id)},
                )
    return len(erased)
