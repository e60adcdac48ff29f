"""The lead page's "recently reviewed" list shows only clips still in review use: a clip of a
household that turned review off, a clip flagged ``sensitive`` on a later pass, or one a pending
voice deletion may name is neither listed nor offered for a second annotation or gold."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.recordings import voice_delete
from overheard.review import hooks
from overheard.review.annotations import submit
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.lead import recent_reviewed
from overheard.review.models import Annotation
from overheard.review.policy import Flag
from overheard.review.queue import claim
from overheard.review.sampler import sample_after_transcription

from .conftest import T0, later


@pytest.fixture
def platform(platform):  # type: ignore[no-untyped-def]
    platform.settings = platform.settings.model_copy(
        update={"voice_delete_confirm_s": 300.0, "voice_delete_undo_s": 30.0}
    )
    hooks.register()
    return platform


def reviewed(platform, home, add_recordings, policy, rng, at: float):  # type: ignore[no-untyped-def]
    """A clip of ``home`` captured at ``later(at)``, sampled and answered by R-0001; its
    first-pass annotation id."""
    [said] = add_recordings(home, at=later(at))
    with transaction(platform.sessions) as s:
        sample_after_transcription(s, s.merge(said), policy, rng, later(at + 1))
        lease = claim(s, "R-0001", policy, rng=rng, now=later(at + 2))
        assert lease is not None
        row = submit(s, platform.gate, lease.lease_id, "R-0001",
                     AnnotationInput("eggs", "shopping"), policy, now=later(at + 3))  # fmt: skip
        return row.id


def listed(platform) -> set[str]:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return {c.annotation_id for c in recent_reviewed(s, later(10))}


def test_only_clips_still_in_review_use_are_listed(
    platform, make_home, add_recordings, policy, rng
):
    kept_home, off_home, asked_home = make_home(), make_home(), make_home()
    kept = reviewed(platform, kept_home, add_recordings, policy, rng, -100)
    off = reviewed(platform, off_home, add_recordings, policy, rng, -90)
    asked = reviewed(platform, asked_home, add_recordings, policy, rng, -80)
    assert listed(platform) == {kept, off, asked}

    with transaction(platform.sessions) as s:
        set_human_review(s, off_home.household_id, False, actor="customer", now=later(1))
    [command] = add_recordings(asked_home, at=T0)
    voice_delete.ask(platform, command, "delete_last")  # "delete that", waiting for a yes
    assert listed(platform) == {kept}


def test_a_clip_flagged_sensitive_on_its_second_pass_is_not_listed(
    platform, make_home, add_recordings, policy, rng
):
    double = replace(policy, double_share=1.0)
    first = reviewed(platform, make_home(), add_recordings, double, rng, -100)
    assert listed(platform) == {first}
    with transaction(platform.sessions) as s:
        second = claim(s, "R-0002", double, rng=rng, now=later(-50))
        assert second is not None
        submit(s, platform.gate, second.lease_id, "R-0002",
               AnnotationInput("something personal", None, frozenset({Flag.SENSITIVE})),
               double, now=later(-40))  # fmt: skip
    with platform.sessions() as s:
        flags = s.scalars(select(Annotation.sensitive).order_by(Annotation.submitted_at)).all()
    assert flags == [False, True]  # the first pass itself carries no flag
    assert listed(platform) == set()
