"""Consent: off by default, audited, and turning it off withdraws every open task at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent, verify_chain
from overheard.db import transaction
from overheard.errors import NotFound
from overheard.households import Household
from overheard.review.consent import set_human_review
from overheard.review.models import ReviewTask, TaskState
from overheard.review.queue import claim, lease_is_live

from .conftest import T0, later


def test_review_is_off_by_default(platform, make_home):
    home = make_home(consent=False)
    with platform.sessions() as s:
        assert s.get(Household, home.household_id).human_review is False


def test_turning_on_is_audited_with_ids_only(platform, make_home):
    home = make_home(consent=False)
    with transaction(platform.sessions) as s:
        assert set_human_review(s, home.household_id, True, actor="customer", now=T0) == 0
    with platform.sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.consent")).one()
        assert (event.subject, event.reason, event.actor) == (home.household_id, "on", "customer")
        assert event.details == {"human_review": True, "tasks_withdrawn": 0}
        assert verify_chain(s).ok


def test_turning_off_withdraws_open_tasks_and_kills_live_leases(
    platform, make_home, make_tasks, policy, rng
):
    home = make_home()
    other = make_tasks(1)
    mine = make_tasks(3, home=home)
    with transaction(platform.sessions) as s:
        lease = claim(s, "R-0001", policy, rng=rng, now=T0)
    assert lease.task.task_id == other[0]  # oldest first
    with transaction(platform.sessions) as s:
        held = claim(s, "R-0002", policy, rng=rng, now=T0)
    assert held.task.task_id in mine
    with platform.sessions() as s:
        assert lease_is_live(s, held.lease_id, now=later(1))
    with transaction(platform.sessions) as s:
        assert set_human_review(s, home.household_id, False, actor="customer", now=later(2)) == 3
    with platform.sessions() as s:
        assert not lease_is_live(s, held.lease_id, now=later(2))
        assert lease_is_live(s, lease.lease_id, now=later(2))  # another household's task
        states = {t.id: t.state for t in s.scalars(select(ReviewTask))}
    assert {states[i] for i in mine} == {TaskState.WITHDRAWN.value}
    assert states[other[0]] == TaskState.LEASED.value
    with transaction(platform.sessions) as s:  # nothing of the household can be claimed any more
        assert claim(s, "R-0003", policy, rng=rng, now=later(3)) is None


def test_turning_off_rolls_back_with_its_transaction(platform, make_home, make_tasks):
    home = make_home()
    make_tasks(2, home=home)
    with pytest.raises(RuntimeError), transaction(platform.sessions) as s:
        set_human_review(s, home.household_id, False, actor="customer", now=T0)
        raise RuntimeError("the request failed after the change")
    with platform.sessions() as s:
        assert s.get(Household, home.household_id).human_review is True
        assert {t.state for t in s.scalars(select(ReviewTask))} == {TaskState.QUEUED.value}


def test_unknown_household_is_not_found(platform):
    with pytest.raises(NotFound), transaction(platform.sessions) as s:
        set_human_review(s, "hh_missing", True, actor="customer", now=T0)
