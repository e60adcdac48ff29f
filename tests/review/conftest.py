"""Fixtures for review tests: consenting households with transcribed recordings, a fixed clock."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from overheard.db import transaction
from overheard.recordings.models import Recording, Status
from overheard.review.consent import set_human_review
from overheard.review.policy import ReviewPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""The fixed 'now' review tests start from."""


def new_recording(
    household_id: str,
    device_id: str,
    *,
    status: Status = Status.TRANSCRIBED,
    confidence: float | None = 0.9,
    duration_s: float = 2.5,
    at: datetime = T0,
) -> Recording:
    """A recording row as the pipeline leaves it (no audio is needed for review bookkeeping)."""
    return Recording(
        id=uuid.uuid4().hex,
        household_id=household_id,
        device_id=device_id,
        captured_at=at,
        received_at=at,
        duration_s=duration_s,
        source_rate_hz=16000,
        source_format="WAV/PCM_16",
        status=status.value,
        asr_confidence=confidence,
        processed_at=at,
    )


CONSENT_AT = T0 - timedelta(days=1)
"""When a test household turned review on: before every clip the tests record (some at ``T0``
minus seconds), which consent given later would not cover."""


@dataclass(frozen=True)
class Home:
    """A test household: its id and its device's id."""

    household_id: str
    device_id: str


@pytest.fixture
def make_home(platform, make_household) -> Callable[..., Home]:  # type: ignore[no-untyped-def]
    """Factory: an enrolled household (with a data key), review on unless ``consent=False``."""

    def make(consent: bool = True) -> Home:
        hh = make_household()
        if consent:
            with transaction(platform.sessions) as s:
                set_human_review(s, hh.household_id, True, actor="customer", now=CONSENT_AT)
        return Home(hh.household_id, hh.device_id)

    return make


@pytest.fixture
def add_recordings(platform) -> Callable[..., list[Recording]]:  # type: ignore[no-untyped-def]
    """Factory: ``n`` recordings of a home, committed."""

    def add(home: Home, n: int = 1, **kw: object) -> list[Recording]:
        rows = [new_recording(home.household_id, home.device_id, **kw) for _ in range(n)]  # type: ignore[arg-type]
        with transaction(platform.sessions) as s:
            s.add_all(rows)
        return rows

    return add


@pytest.fixture
def policy() -> ReviewPolicy:
    """A policy that samples everything, no second passes or gold unless a test asks."""
    return ReviewPolicy(sample_rate=1.0, household_cap=1000, double_share=0.0, gold_share=0.0)


@pytest.fixture
def rng() -> random.Random:
    """A seeded source of draws."""
    return random.Random(1234)


def later(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def make_tasks(platform, make_home, add_recordings, policy, rng):  # type: ignore[no-untyped-def]
    """Factory: ``n`` queued tasks (one recording each) of one consenting home; returns their ids."""
    from overheard.review.sampler import sample_after_transcription

    def make(n: int = 1, home: Home | None = None, **policy_changes: object) -> list[str]:
        home = home or make_home()
        chosen = ReviewPolicy(**{**policy.__dict__, **policy_changes})
        ids = []
        with transaction(platform.sessions) as s:
            for rec in add_recordings(home, n):
                task = sample_after_transcription(s, s.merge(rec), chosen, rng, T0)
                assert task is not None
                ids.append(task.id)
        return ids

    return make
