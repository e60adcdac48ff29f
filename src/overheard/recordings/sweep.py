"""Sweeps: orphan blobs (written, never committed) and stale temporary files."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from .. import audit
from ..db import transaction, utcnow
from ..platform import Platform
from .models import Recording

AUDIO_PREFIX = "audio/"


def sweep_orphan_blobs(platform: Platform, *, grace_s: float, now: datetime | None = None) -> int:
    """Delete audio blobs older than ``grace_s`` that no recording refers to; returns how many."""
    when = now or utcnow()
    cutoff = when - timedelta(seconds=grace_s)
    candidates = [b.key for b in platform.blobs.list(AUDIO_PREFIX) if b.modified_at <= cutoff]
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
