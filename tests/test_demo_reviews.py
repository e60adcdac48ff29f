"""The demo's review history: a disagreement waiting for the lead and a gold item, made through the
same services as a person's clicks."""

from __future__ import annotations

from sqlalchemy import func, select

from overheard.accounts.service import create_staff
from overheard.audit import AuditEvent
from overheard.db import transaction, utcnow
from overheard.demo_reviews import MAX_FIRST_PASSES, seed_reviews
from overheard.review.agreement import adjudication_queue
from overheard.review.models import Annotation, GoldItem, ReviewTask, TaskState
from tests.workbench.conftest import CAPTURED, make_world  # noqa: F401


def test_demo_reviews_leave_one_disagreement_and_one_gold_item(platform, make_world):  # noqa: F811
    world = make_world(3)
    with transaction(platform.sessions) as s:
        lead = create_staff(s, name="Demo Lead", role="lead", actor="demo")[0]
    seeded = seed_reviews(platform, lead.pseudonym, CAPTURED)
    assert (seeded.reviewed, seeded.disagreements, seeded.gold) == (3, 1, 1)
    with platform.sessions() as s:
        [waiting] = adjudication_queue(s)
        assert waiting.wer > 0
        gold = s.scalars(select(GoldItem)).one()
        assert gold.created_by == lead.pseudonym and gold.recording_id in world.recording_ids
        annotators = set(s.scalars(select(Annotation.annotator)))
        assert len(annotators) == 2 and lead.pseudonym not in annotators
        asked = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.ask_second")).one()
        assert asked.actor == lead.pseudonym


def test_demo_reviews_leave_the_rest_of_the_queue_to_the_person_trying_the_demo(
    platform, make_world  # noqa: F811
):
    """The second demo annotator answers only the double check it disagrees on: the first-pass
    tasks beyond the demo's first passes are still waiting when someone signs in."""
    world = make_world(MAX_FIRST_PASSES + 3)
    with transaction(platform.sessions) as s:
        lead = create_staff(s, name="Demo Lead", role="lead", actor="demo")[0]
    seeded = seed_reviews(platform, lead.pseudonym, utcnow())  # after the tasks, as `demo` runs it
    assert seeded.reviewed == MAX_FIRST_PASSES
    with platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Annotation)) == MAX_FIRST_PASSES + 1
        waiting = s.scalars(
            select(ReviewTask.recording_id).where(
                ReviewTask.state == TaskState.QUEUED.value, ReviewTask.first_task_id.is_(None)
            )
        ).all()
    assert len(waiting) == 3 and set(waiting) <= set(world.recording_ids)


def test_demo_reviews_with_nothing_sampled_do_nothing(platform):
    seeded = seed_reviews(platform, "R-0000", CAPTURED)
    assert (seeded.reviewed, seeded.disagreements, seeded.gold) == (0, 0, 0)


def test_demo_reviews_use_a_double_check_the_sampler_already_drew(platform, make_world):  # noqa: F811
    """The demo draws a quarter of sampled clips for double annotation: when the first reviewed clip
    already has its double check, that one carries the disagreement (the lead cannot ask twice)."""
    world = make_world(3)
    with transaction(platform.sessions) as s:
        lead = create_staff(s, name="Demo Lead", role="lead", actor="demo")[0]
        for task in s.scalars(select(ReviewTask)):
            task.wants_second = True
    seeded = seed_reviews(platform, lead.pseudonym, CAPTURED)
    assert (seeded.reviewed, seeded.disagreements, seeded.gold) == (3, 1, 1)
    with platform.sessions() as s:
        [waiting] = adjudication_queue(s)
        assert waiting.wer > 0
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "review.ask_second")) is None
        assert len(world.recording_ids) == 3


def test_the_demo_lead_acts_on_the_first_reviewed_clip_still_allowed() -> None:
    """A clip reviewed a moment ago may since be held (a spoken deletion near it): the demo goes on
    with the next reviewed clip instead of failing `overheard demo` (and `make run`)."""
    import pytest

    from overheard.demo_reviews import _first_allowed
    from overheard.errors import Conflict

    def act(annotation: str) -> str:
        if annotation == "held":
            raise Conflict("the household asked by voice to delete this clip", code="excluded")
        return annotation

    assert _first_allowed(["held", "fine"], act) == "fine"
    with pytest.raises(Conflict):
        _first_allowed(["held"], act)
