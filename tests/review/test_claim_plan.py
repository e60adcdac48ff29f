"""A claim's cost does not grow with the queue times the household's clips (PostgreSQL's plan).

A claim holds back a household's clips while another clip of it has not been heard by the
pipeline (it may be a spoken deletion of them). Planned per candidate task, PostgreSQL drove that
check from each task's household's recordings: with 1,200 queued tasks of one household, 1.4
million index probes and about a second a claim. The households with a clip not yet heard are now
found once per claim, and the per-task check runs only for a task of one of them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from overheard.db import transaction
from overheard.jobs import enqueue
from overheard.recordings.ingest import PROCESS_JOB
from overheard.recordings.models import Recording, Status
from overheard.review.queue import claim

from ._claimers import POLICY, seed_tasks
from .conftest import T0, new_recording

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
QUEUED = 300


def _claim_plan(platform, annotator: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The executed plan (EXPLAIN ANALYZE, JSON) of the claim's UPDATE for ``annotator``."""
    engine = platform.sessions.kw["bind"]
    seen: list[tuple[str, dict[str, Any]]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE REVIEW_TASKS"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with transaction(platform.sessions) as s:
            assert claim(s, annotator, POLICY, rng=random.Random(1), now=T0) is not None
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    (statement, params), *_ = seen
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
            {**params, "new_lease_id": uuid.uuid4().hex, "new_leased_to": annotator + "-again"},
        )
        return cursor.fetchone()[0][0]["Plan"]
    finally:
        raw.rollback()
        raw.close()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def recording_probes(plan: dict[str, Any]) -> int:
    """How many times the plan's scans of ``recordings`` ran."""
    return sum(n.get("Actual Loops", 0) for n in _nodes(plan) if n.get("Relation Name") == "recordings")


def test_a_claim_probes_the_recordings_a_few_times_however_long_the_queue(platform, make_home):  # type: ignore[no-untyped-def]
    home = make_home()
    seed_tasks(platform.sessions, home.household_id, home.device_id, QUEUED, T0)
    assert recording_probes(_claim_plan(platform, "R-q1")) <= 2


def test_with_a_clip_not_yet_heard_the_household_is_still_held_back(platform, make_home):  # type: ignore[no-untyped-def]
    """The check still holds where it must: only the other household's task is claimable."""
    held, other = make_home(), make_home()
    seed_tasks(platform.sessions, held.household_id, held.device_id, 3, T0)
    (free,) = seed_tasks(platform.sessions, other.household_id, other.device_id, 1, T0)
    with transaction(platform.sessions) as s:
        unheard = new_recording(held.household_id, held.device_id, status=Status.RECEIVED)
        s.add(unheard)
        s.flush()
        enqueue(s, PROCESS_JOB, unheard.id, now=T0)
    with transaction(platform.sessions) as s:
        first = claim(s, "R-h1", POLICY, rng=random.Random(1), now=T0)
        assert first is not None and first.task.task_id == free
    with transaction(platform.sessions) as s:
        assert claim(s, "R-h2", POLICY, rng=random.Random(1), now=T0) is None
        assert s.get_one(Recording, unheard.id).status == Status.RECEIVED.value
