"""A month of 1,000 households through the real sampler on SQLite: caps hold in every rolling window,
opted-out households are never sampled, and the realised rates match the configured ones.

Volumes are Poisson per household and day. A few heavy households (36–60 requests a day) drive the
cap; the many light ones (0.1–3 a day, log-uniform) are far from it and measure the rates. The
volume is kept to about 40,000 requests so the month runs in well under a minute: each decision
writes one audit event, which dominates the cost.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy.stats import binom
from sqlalchemy import func, insert, select

from overheard.audit import AuditEvent
from overheard.db import make_engine, make_sessionmaker, migrate, transaction
from overheard.households import Device, Household
from overheard.recordings.models import Recording, Status
from overheard.review.models import ReviewTask
from overheard.review.policy import DAY_S, ReviewPolicy
from overheard.review.sampler import sample_after_transcription

pytestmark = pytest.mark.slow

HOUSEHOLDS = 1000
HEAVY = 10
"""Households with 36–60 requests a day: at 1 % (+ low confidence) they reach the cap."""
LIGHT_MEAN_PER_DAY = (0.1, 3.0)
OPTED_OUT = 100
DAYS = 30
PROCESSING_S = 2.0
"""Seconds from capture to the sampling decision."""
CONFIDENCE_LEVEL = 0.999
START = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = ReviewPolicy(low_confidence_rate=0.05, low_confidence_below=0.3)
"""Defaults (1 %, 10 per 30 days) plus a 5 % draw for clips under 0.3 confidence."""


def _volumes(gen: np.random.Generator) -> np.ndarray:
    heavy = np.linspace(36.0, 60.0, HEAVY)
    lo, hi = (math.log(v) for v in LIGHT_MEAN_PER_DAY)
    light = np.exp(gen.uniform(lo, hi, HOUSEHOLDS - HEAVY))
    return np.concatenate([heavy, light])


def _enrol(sessions, consent: np.ndarray) -> list[str]:  # type: ignore[no-untyped-def]
    ids = [f"hh_{i:04d}" for i in range(HOUSEHOLDS)]
    with transaction(sessions) as s:
        s.execute(
            insert(Household),
            [
                {"id": h, "human_review": bool(c), "created_at": START}
                for h, c in zip(ids, consent, strict=True)
            ],
        )
        s.execute(
            insert(Device),
            [{"id": f"dev_{h}", "household_id": h, "token_hash": os.urandom(32)} for h in ids],
        )
    return ids


def _day_of_requests(gen, ids, volumes, day: int) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = []
    base = START + timedelta(days=day)
    for h, n in zip(ids, gen.poisson(volumes), strict=True):
        for offset, conf in zip(gen.uniform(0, DAY_S, n), gen.uniform(0, 1, n), strict=True):
            at = base + timedelta(seconds=float(offset))
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "household_id": h,
                    "device_id": f"dev_{h}",
                    "captured_at": at,
                    "received_at": at,
                    "duration_s": 2.0,
                    "source_rate_hz": 16000,
                    "source_format": "WAV/PCM_16",
                    "status": Status.TRANSCRIBED.value,
                    "asr_confidence": float(conf),
                }
            )
    return rows


def _simulate(sessions, gen, ids, volumes) -> int:  # type: ignore[no-untyped-def]
    total = 0
    for day in range(DAYS):
        rows = _day_of_requests(gen, ids, volumes, day)
        total += len(rows)
        with transaction(sessions) as s:
            s.execute(insert(Recording), rows)
        with transaction(sessions) as s:
            recs = s.scalars(
                select(Recording).where(Recording.id.in_([r["id"] for r in rows]))
            ).all()
            for rec in sorted(recs, key=lambda r: r.captured_at):
                when = rec.captured_at + timedelta(seconds=PROCESSING_S)
                sample_after_transcription(s, rec, POLICY, gen, when)
    return total


def _max_in_any_window(times: list[datetime], window: timedelta) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] > window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _assert_in_interval(successes: int, trials: int, p: float) -> None:
    lo, hi = binom.interval(CONFIDENCE_LEVEL, trials, p)
    assert lo <= successes <= hi, f"{successes}/{trials} outside [{lo}, {hi}] for p={p}"


def test_a_month_of_a_thousand_households(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sim.db'}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    gen = np.random.default_rng(20260301)
    volumes = _volumes(gen)
    consent = np.ones(HOUSEHOLDS, dtype=bool)
    consent[:2] = False  # two heavy households opted out
    consent[gen.choice(np.arange(HEAVY, HOUSEHOLDS), OPTED_OUT - 2, replace=False)] = False
    ids = _enrol(sessions, consent)
    total = _simulate(sessions, gen, ids, volumes)

    with sessions() as s:
        tasks = s.execute(
            select(
                ReviewTask.household_id,
                ReviewTask.created_at,
                ReviewTask.reason,
                ReviewTask.recording_id,
            )
        ).all()
        decided = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "review.sample")
        )
        decisions = dict(
            s.execute(
                select(AuditEvent.reason, func.count())
                .where(AuditEvent.action == "review.sample")
                .group_by(AuditEvent.reason)
            ).all()
        )
        recs = s.execute(
            select(Recording.id, Recording.household_id, Recording.asr_confidence)
        ).all()
    engine.dispose()

    # Every request got exactly one audited decision.
    assert decided == total > 30_000
    assert decisions["sampled"] == len(tasks)
    assert decisions["cap_reached"] > 0  # the heavy households did meet the cap

    # No household over its cap in any 30-day window; none from an opted-out household.
    by_household: dict[str, list[datetime]] = defaultdict(list)
    for t in tasks:
        by_household[t.household_id].append(t.created_at)
    window = timedelta(seconds=POLICY.cap_window_s)
    worst = max(_max_in_any_window(v, window) for v in by_household.values())
    assert worst <= POLICY.household_cap
    opted_out = {h for h, c in zip(ids, consent, strict=True) if not c}
    assert not opted_out & set(by_household)
    assert decisions["no_consent"] == sum(1 for r in recs if r.household_id in opted_out)

    # Realised rates over households far from the cap (mean <= 3 a day: <= ~1 expected pick a month).
    far = {
        h for h, v, c in zip(ids, volumes, consent, strict=True) if c and v <= LIGHT_MEAN_PER_DAY[1]
    }
    far_recs = [r for r in recs if r.household_id in far]
    far_low = [r for r in far_recs if r.asr_confidence < POLICY.low_confidence_below]
    reasons = defaultdict(int)
    for t in tasks:
        if t.household_id in far:
            reasons[t.reason] += 1
    _assert_in_interval(reasons["random"], len(far_recs), POLICY.sample_rate)
    _assert_in_interval(
        reasons["low_confidence"], len(far_low), POLICY.low_confidence_rate - POLICY.sample_rate
    )
