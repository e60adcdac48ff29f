"""Consent: off by default, audited, and turning it off withdraws every open task at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent, verify_chain
from overheard.db import transaction
from overheard.errors import Conflict, NotFound
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


def test_consent_covers_only_clips_recorded_after_it_was_given(
    platform, make_home, add_recordings, policy, rng
):
    from overheard.review.gold import make_gold
    from overheard.review.policy import Decision
    from overheard.review.sampler import sample_after_transcription
    from tests.review.test_voice_hold import sampled

    from .test_gold import TRUTH

    home = make_home(consent=False)
    [backlog] = add_recordings(home, at=T0)  # said while review was off, handled later
    [late_clock] = add_recordings(home, at=later(60))
    with transaction(platform.sessions) as s:
        late_clock = s.merge(late_clock)
        late_clock.captured_at = later(-60)  # the device says it was said before consent
    with transaction(platform.sessions) as s:
        set_human_review(s, home.household_id, True, actor="customer", now=later(10))
    [after] = add_recordings(home, at=later(20))

    assert sampled(platform, backlog, policy, rng, later(30)) == Decision.BEFORE_CONSENT
    assert sampled(platform, late_clock, policy, rng, later(30)) == Decision.BEFORE_CONSENT
    assert sampled(platform, after, policy, rng, later(30)) == Decision.SAMPLED
    with pytest.raises(Conflict), transaction(platform.sessions) as s:  # nor made a gold item
        make_gold(s, platform.gate, backlog.id, "R-lead", answer=TRUTH, now=later(30))

    # off and on again: consent given anew covers only what is recorded from then on
    with transaction(platform.sessions) as s:
        set_human_review(s, home.household_id, False, actor="customer", now=later(40))
    [while_off] = add_recordings(home, at=later(50))
    with transaction(platform.sessions) as s:
        set_human_review(s, home.household_id, True, actor="customer", now=later(60))
        set_human_review(s, home.household_id, True, actor="customer", now=later(70))  # still on
    [again] = add_recordings(home, at=later(65))
    assert sampled(platform, while_off, policy, rng, later(80)) == Decision.BEFORE_CONSENT
    assert sampled(platform, again, policy, rng, later(80)) == Decision.SAMPLED
    with transaction(platform.sessions) as s:
        assert sample_after_transcription(s, s.merge(after), policy, rng, later(80)) is None
