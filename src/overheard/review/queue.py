"""The task queue: one live lease per annotator, atomic claims, heartbeats, skips.

A claim is one conditional UPDATE whose candidate comes from a sub-select; on PostgreSQL the
sub-select takes ``FOR UPDATE SKIP LOCKED`` so concurrent claimers never wait on or share a row, on
SQLite every write transaction already holds the database lock (``BEGIN IMMEDIATE``). The UPDATE
re-checks that the task is still claimable, so a task is never leased to two annotators at once.
Expired leases are reclaimed lazily by the next claim; no sweeper is needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from .. import audit
from ..errors import BadRequest
from ..recordings.voice_delete import held_unheard, unheard_beside_any
from ._tasks import add_task
from .errors import ClipHeld, LeaseExpired
from .models import Annotation, GoldItem, ReviewTask, TaskBar, TaskState
from .policy import Draw, Reason, ReviewPolicy, SkipReason

SKIP_REASONS = frozenset(r.value for r in SkipReason)
HELD = "this clip is held for a moment; try again shortly"
"""What a reviewer is told while the clip's household has a clip the pipeline has not heard."""
DURATION_DECIMALS = 1
"""Durations reach reviewers rounded to tenths of a second."""


@dataclass(frozen=True)
class TaskView:
    """All a reviewer's screen may know of a task; ``reason`` and ``gold`` are None unless for a lead."""

    pseudonym: str
    task_id: str
    duration_s: float
    """Seconds of audio, rounded to a tenth."""
    reason: str | None = None
    gold: bool | None = None


@dataclass(frozen=True)
class Lease:
    """A task held by one annotator until ``expires_at`` unless renewed."""

    lease_id: str
    expires_at: datetime
    task: TaskView


def task_view(task: ReviewTask, *, lead: bool = False) -> TaskView:
    """The reviewer-safe view of a task (no household, device, recording id or time)."""
    duration = round(task.duration_s, DURATION_DECIMALS)
    if not lead:
        return TaskView(task.pseudonym, task.id, duration)
    return TaskView(task.pseudonym, task.id, duration, task.reason, task.reason == Reason.GOLD)


def _lease(task: ReviewTask) -> Lease:
    assert task.lease_id is not None and task.lease_until is not None
    return Lease(task.lease_id, task.lease_until, task_view(task))


def _claimable(task: type[ReviewTask], now: BindParameter[Any]) -> ColumnElement[bool]:
    queued = task.state == TaskState.QUEUED.value
    stale = (task.state == TaskState.LEASED.value) & (task.lease_until < now)
    return or_(queued, stale)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_ANNOTATOR_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:a))")


def serialise_annotator(session: Session, annotator: str) -> None:
    """Hold ``annotator``'s claim lock to the commit: two tabs of one annotator must not both win
    a task (PostgreSQL advisory lock; SQLite already serialises all writers). A transaction that
    claims takes it before any other lock."""
    if _is_postgres(session):
        session.execute(_ANNOTATOR_LOCK, {"a": annotator})


_COLUMNS = ReviewTask.__table__.c


def _param(name: str, column: str) -> BindParameter[Any]:
    # Typed as its column, so a statement built once binds values as the column would.
    return bindparam(name, type_=_COLUMNS[column].type)


_NOW = _param("now", "lease_until")
_HELD = (
    select(ReviewTask)
    .where(
        ReviewTask.leased_to == bindparam("annotator"),
        ReviewTask.state == TaskState.LEASED.value,
        ReviewTask.lease_until >= _NOW,
    )
    .limit(1)
)
"""``held_by``'s statement, built once (bound parameters) and reused; ``_HELD_LOCKED`` locks the row."""
_HELD_LOCKED = _HELD.with_for_update()


def held_by(session: Session, annotator: str, now: datetime) -> ReviewTask | None:
    """The task ``annotator`` holds a live lease on, if any."""
    return session.scalars(_HELD, {"annotator": annotator, "now": now}).first()


def _lease_values(annotator: str, policy: ReviewPolicy, now: datetime) -> dict[str, object]:
    return {
        "state": TaskState.LEASED.value,
        "lease_id": uuid.uuid4().hex,
        "leased_to": annotator,
        "leased_at": now,
        "lease_until": now + timedelta(seconds=policy.lease_s),
    }


_POOL = aliased(ReviewTask)
"""The candidate side of a claim (made once: an alias builds a proxy of every column)."""


_Loading = ExecutableReturnsRows
"""An UPDATE … RETURNING the task, as a statement the ORM loads the task from."""


def _loading(statement: ReturningUpdate[tuple[ReviewTask]]) -> _Loading:
    """``statement`` for :func:`_update_returning`: run as an ORM UPDATE, the ORM annotates it
    afresh on every call and SQLAlchemy recomputes its cache key (the whole claim's subquery);
    loaded from, it is compiled once and found in the cache after."""
    return select(ReviewTask).from_statement(statement)


def _claim_statement(*, skip_locked: bool) -> _Loading:
    """The claim's one conditional UPDATE, built once per dialect with bound parameters."""
    pool = _POOL
    barred = exists().where(TaskBar.task_id == pool.id, TaskBar.annotator == bindparam("annotator"))
    candidate = (
        select(pool.id)
        .where(
            _claimable(pool, _NOW),
            pool.reason != Reason.GOLD.value,
            ~barred,
            ~unheard_beside_any(pool.household_id, pool.recording_id),
        )
        .order_by(pool.created_at)
        .limit(1)
    )
    if skip_locked:
        candidate = candidate.with_for_update(skip_locked=True, of=pool)
    return _loading(
        update(ReviewTask)
        .where(ReviewTask.id == candidate.scalar_subquery(), _claimable(ReviewTask, _NOW))
        .returning(ReviewTask)
        .values(
            state=TaskState.LEASED.value,
            lease_id=_param("new_lease_id", "lease_id"),
            leased_to=_param("new_leased_to", "leased_to"),
            leased_at=_param("new_leased_at", "leased_at"),
            lease_until=_param("new_lease_until", "lease_until"),
        )
    )


_CLAIM = {False: _claim_statement(skip_locked=False), True: _claim_statement(skip_locked=True)}
"""The claim's UPDATE, by whether the candidate is taken ``FOR UPDATE SKIP LOCKED`` (PostgreSQL)."""


def _claim_pool(
    session: Session, annotator: str, policy: ReviewPolicy, now: datetime
) -> ReviewTask | None:
    values = _lease_values(annotator, policy, now)
    params = {"annotator": annotator, "now": now} | {
        f"new_{key}": values[key] for key in ("lease_id", "leased_to", "leased_at", "lease_until")
    }
    return _update_returning(session, _CLAIM[_is_postgres(session)], params)


def _update_returning(
    session: Session, statement: _Loading, params: dict[str, object]
) -> ReviewTask | None:
    # One round trip: the UPDATE hands back the fresh row it changed (or none), loaded as the task
    # (a copy already in the session refreshed with it).
    return session.scalars(
        statement, params, execution_options={"populate_existing": True}
    ).one_or_none()


def _claim_gold(
    session: Session, annotator: str, policy: ReviewPolicy, rng: Draw, now: datetime
) -> ReviewTask | None:
    seen = select(ReviewTask.gold_id).where(
        ReviewTask.leased_to == annotator, ReviewTask.gold_id.is_not(None)
    )
    annotated = select(Annotation.recording_id).where(Annotation.annotator == annotator)
    ids = list(
        session.scalars(
            select(GoldItem.id)
            .where(
                GoldItem.active,
                GoldItem.id.not_in(seen),
                GoldItem.recording_id.not_in(annotated),
                ~unheard_beside_any(GoldItem.household_id, GoldItem.recording_id),
            )
            .order_by(GoldItem.id)
        )
    )
    if not ids:
        return None
    # Held to the commit: a withdrawal deactivates gold items before it withdraws tasks, so it
    # either waits and then withdraws this task, or committed first and the item is inactive.
    gold = session.get_one(GoldItem, ids[int(rng.random() * len(ids))], with_for_update={"read": True})
    if not gold.active:
        return None
    return add_task(
        session,
        recording_id=gold.recording_id,
        household_id=gold.household_id,
        duration_s=gold.duration_s,
        reason=Reason.GOLD.value,
        now=now,
        gold_id=gold.id,
        **_lease_values(annotator, policy, now),
    )


def refuse_unheard(session: Session, household_id: str, recording_id: str) -> None:
    """ClipHeld while another clip of the household still waits for the pipeline: it may be a
    spoken deletion of this one (``voice_delete.unheard_beside``). Nothing of the clip reaches
    staff meanwhile; once it is heard, the clip is served again or, named, withdrawn."""
    if held_unheard(session, household_id, recording_id):
        raise ClipHeld(HELD)


def claim(
    session: Session, annotator: str, policy: ReviewPolicy, *, rng: Draw, now: datetime
) -> Lease | None:
    """Lease the next task to ``annotator`` (their live lease if they hold one); None if none waits."""
    task = claim_task(session, annotator, policy, rng=rng, now=now)
    return None if task is None else _lease(task)


def claim_task(
    session: Session, annotator: str, policy: ReviewPolicy, *, rng: Draw, now: datetime
) -> ReviewTask | None:
    """``claim``, answering the leased task's row: held by ``annotator`` and live in this
    transaction (on PostgreSQL locked by the claim's UPDATE, or a held one ``FOR UPDATE``), so
    the caller may serve it without reading it again."""
    serialise_annotator(session, annotator)
    found = take_task(session, annotator, policy, rng=rng, now=now)
    if found is None:
        return None
    task, fresh = found
    if fresh:
        audit_claim(session, annotator, task, now)
    return task


def take_task(
    session: Session, annotator: str, policy: ReviewPolicy, *, rng: Draw, now: datetime
) -> tuple[ReviewTask, bool] | None:
    """``claim_task``'s row work without its lock or its audit event: the task and whether it was
    newly leased (the caller holds ``serialise_annotator`` already, and appends ``audit_claim``
    for a new lease in this transaction); None when nothing waits."""
    task = session.scalars(_HELD_LOCKED, {"annotator": annotator, "now": now}).first()
    if task is not None:
        return task, False
    if policy.gold_share > 0 and rng.random() < policy.gold_share:
        task = _claim_gold(session, annotator, policy, rng, now)
    if task is None:
        task = _claim_pool(session, annotator, policy, now)
    return None if task is None else (task, True)


def audit_claim(session: Session, annotator: str, task: ReviewTask, now: datetime) -> None:
    """The ``review.claim`` event of a new lease, written with the transaction's other events
    (a claim with its text: one INSERT for three)."""
    audit.append_later(
        session,
        actor=annotator,
        action="review.claim",
        subject=task.recording_id,
        household_id=task.household_id,
        reason=task.reason,
        details={"task": task.id},
        now=now,
    )


_LIVE_LEASES = (
    select(func.count())
    .select_from(ReviewTask)
    .where(
        ReviewTask.lease_id == _param("lease_id", "lease_id"),
        ReviewTask.state == TaskState.LEASED.value,
        ReviewTask.lease_until >= _NOW,
    )
)
"""``lease_is_live``'s count, built once with bound parameters."""


def lease_is_live(session: Session, lease_id: str, *, now: datetime) -> bool:
    """Whether ``lease_id`` still entitles its holder to the audio (check before every chunk)."""
    return bool(session.scalar(_LIVE_LEASES, {"lease_id": lease_id, "now": now}))


def heartbeat(
    session: Session, lease_id: str, annotator: str, policy: ReviewPolicy, *, now: datetime
) -> Lease:
    """Extend a live lease by ``lease_s`` from ``now``; LeaseExpired if it is no longer live."""
    return _lease(
        end_lease(
            session,
            lease_id,
            annotator,
            now,
            {"lease_until": now + timedelta(seconds=policy.lease_s)},
        )
    )


def lease_state(session: Session, lease_id: str, annotator: str, now: datetime) -> str:
    """``live`` while ``annotator`` holds the lease; otherwise ``withdrawn`` (the household took
    it back), or ``ended`` (done, skipped, expired or never theirs) — read-only, no lock."""
    task = session.scalars(
        select(ReviewTask).where(ReviewTask.lease_id == lease_id, ReviewTask.leased_to == annotator)
    ).first()
    return "ended" if task is None else _state_of(task.state, task.lease_until, now)


def lease_states(
    session: Session, annotator: str, *, since: datetime, watched: Iterable[str], now: datetime
) -> dict[str, str]:
    """``lease_state`` of every lease given to ``annotator`` at or after ``since``, of the one they
    hold, and of each ``watched`` lease (``ended`` once it is no longer theirs) — one read, no lock."""
    watched = list(watched)
    rows = session.execute(
        select(ReviewTask.lease_id, ReviewTask.state, ReviewTask.lease_until).where(
            ReviewTask.leased_to == annotator,
            ReviewTask.lease_id.is_not(None),
            or_(
                ReviewTask.leased_at >= since,
                ReviewTask.state == TaskState.LEASED.value,
                ReviewTask.lease_id.in_(watched),
            ),
        )
    ).all()
    found = {str(r.lease_id): _state_of(r.state, r.lease_until, now) for r in rows}
    return {**dict.fromkeys(watched, "ended"), **found}


def leased_at(session: Session, lease_id: str, annotator: str) -> datetime | None:
    """When ``annotator`` was given ``lease_id`` (None if it is not theirs)."""
    return session.scalar(
        select(ReviewTask.leased_at).where(
            ReviewTask.lease_id == lease_id, ReviewTask.leased_to == annotator
        )
    )


def _state_of(state: str, lease_until: datetime | None, now: datetime) -> str:
    if state == TaskState.WITHDRAWN.value:
        return "withdrawn"
    live = state == TaskState.LEASED.value and lease_until is not None and lease_until >= now
    return "live" if live else "ended"


def lease_of(task: ReviewTask) -> Lease:
    """The lease a leased task stands for."""
    return _lease(task)


@lru_cache(maxsize=8)
def _end_statement(keys: tuple[str, ...], single_pass: bool = False) -> _Loading:
    """``end_lease``'s UPDATE of the columns ``keys``, built once per set of columns (and for
    ``single_pass``, only of a task that wants no second pass)."""
    live = (
        (ReviewTask.lease_id == bindparam("live_lease_id"))
        & (ReviewTask.state == TaskState.LEASED.value)
        & (ReviewTask.lease_until >= _NOW)
        & (ReviewTask.leased_to == bindparam("annotator"))
    )
    if single_pass:
        live &= ~ReviewTask.wants_second
    values = {key: _param(f"new_{key}", key) for key in keys}
    return _loading(update(ReviewTask).where(live).values(values).returning(ReviewTask))


def end_lease(
    session: Session, lease_id: str, annotator: str, now: datetime, values: dict[str, object]
) -> ReviewTask:
    """Atomically change a live lease of ``annotator`` (``values``); LeaseExpired if not live."""
    task = _ended(session, lease_id, annotator, now, values, single_pass=False)
    if task is None:
        raise LeaseExpired("this lease has expired or was withdrawn")
    return task


def end_single_pass_lease(
    session: Session, lease_id: str, annotator: str, now: datetime, values: dict[str, object]
) -> ReviewTask | None:
    """``end_lease`` of a task that wants no second pass; None (nothing changed, no row locked:
    ``wants_second`` never changes after a task is made) when the lease is not live or its task
    wants a second pass."""
    return _ended(session, lease_id, annotator, now, values, single_pass=True)


def _ended(
    session: Session,
    lease_id: str,
    annotator: str,
    now: datetime,
    values: dict[str, object],
    *,
    single_pass: bool,
) -> ReviewTask | None:
    params = {"live_lease_id": lease_id, "annotator": annotator, "now": now}
    params |= {f"new_{key}": value for key, value in values.items()}
    return _update_returning(session, _end_statement(tuple(sorted(values)), single_pass), params)


def skip(
    session: Session, lease_id: str, annotator: str, reason: SkipReason | str, *, now: datetime
) -> None:
    """Give a task back to the queue, never to be offered to ``annotator`` again."""
    if reason not in SKIP_REASONS:
        raise BadRequest(f"unknown skip reason {reason!r}", code="bad_skip_reason")
    why = SkipReason(reason)
    task = end_lease(
        session,
        lease_id,
        annotator,
        now,
        {"state": TaskState.QUEUED.value, "lease_id": None, "lease_until": None},
    )
    if task.reason == Reason.GOLD.value:
        task.state = TaskState.WITHDRAWN.value  # a gold copy belongs to one annotator only
        task.withdrawn_because = "skipped"
    session.add(TaskBar(task_id=task.id, annotator=annotator, cause=why.value, at=now))
    session.flush()
    audit.append(
        session,
        actor=annotator,
        action="review.skip",
        subject=task.recording_id,
        household_id=task.household_id,
        reason=why.value,
        details={"task": task.id},
        now=now,
    )
