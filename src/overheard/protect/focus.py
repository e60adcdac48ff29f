"""Hear less: serve only the span around the words the recogniser is unsure of, with context.

The span runs from ``context_s`` before the first word whose confidence is under ``below`` to
``context_s`` after the last one; when every word is confident, around the least confident word.
Without word times (an empty hypothesis, an old one) the whole clip is served. Measured in
``benchmarks/hear_less.py``; see ``docs/serving.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ._tables import Watermark

SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class TimedWord:
    """One recognised word with its place in the stored audio."""

    start_s: float
    """Seconds from the start of the stored audio."""
    end_s: float
    """Seconds from the start of the stored audio."""
    confidence: float
    """0..1."""


def hypothesis_words(raw: str | None) -> list[TimedWord]:
    """The timed words of a sealed hypothesis (JSON with ``words``); empty when it has none."""
    if not raw:
        return []
    try:
        body = json.loads(raw)
        words = body.get("words") or [] if isinstance(body, dict) else []
        return [
            TimedWord(float(w["start_s"]), float(w["end_s"]), float(w["confidence"])) for w in words
        ]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return []


def focus_span(
    words: list[TimedWord], duration_s: float, *, below: float, context_s: float
) -> tuple[float, float]:
    """(start, end) seconds of the audio to serve; the whole clip without usable word times."""
    timed = [w for w in words if 0.0 <= w.start_s <= w.end_s <= duration_s + 0.05]
    if not timed or context_s <= 0:
        return 0.0, duration_s
    unsure = [w for w in timed if w.confidence < below] or [min(timed, key=lambda w: w.confidence)]
    start = max(0.0, min(w.start_s for w in unsure) - context_s)
    end = min(duration_s, max(w.end_s for w in unsure) + context_s)
    return start, end


def cut(pcm: bytes, span: tuple[float, float]) -> bytes:
    """The PCM16 samples of ``pcm`` inside ``span`` (seconds)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    first, last = (round(t * SAMPLE_RATE_HZ) for t in span)
    return samples[first:last].tobytes()


@dataclass(frozen=True)
class Heard:
    """How much audio reviewers were served, from the serve records (no content)."""

    clips: int
    """Distinct recordings served under a lease."""
    seconds: float
    """Seconds of audio served under leases, every serve counted."""

    @property
    def per_clip_s(self) -> float:
        """Seconds heard per reviewed clip (0 when none was served)."""
        return self.seconds / self.clips if self.clips else 0.0


def heard(session: Session) -> Heard:
    """Seconds served to annotators per clip, over every lease serve on record."""
    leases = Watermark.grant_kind == "lease"
    clips = session.scalar(select(func.count(func.distinct(Watermark.recording_id))).where(leases))
    seconds = session.scalar(select(func.coalesce(func.sum(Watermark.served_s), 0.0)).where(leases))
    return Heard(int(clips or 0), float(seconds or 0.0))
