"""Fixtures for the privacy tests: the account test helpers (clock, enrolled staff, clients), and
a clip an annotator flagged ``emergency``."""

from __future__ import annotations

import pytest

from overheard.privacy import emergency
from overheard.protect import serving
from overheard.review import hooks as review_hooks
from tests.accounts.conftest import clock, make_staff, new_client, web  # noqa: F401
from tests.privacy._world import add_clip, claim, later, sample, submit

SAID = "help my name is john smith call oh seven seven double oh nine hundred one two three"
"""What the flagged clip says (its hypothesis and the annotator's transcript)."""
POLICY = emergency.EmergencyPolicy(case_s=600, ack_within_s=3600, close_within_s=86_400)


@pytest.fixture
def flagged(platform, make_household):  # type: ignore[no-untyped-def]
    """A clip an annotator flagged ``emergency``; returns (clip, lease, report id)."""
    serving.install(platform)
    review_hooks.register()
    clip = add_clip(platform, make_household, hypothesis=SAID)
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    submit(platform, lease, "R-a1", SAID, "emergency", now=later(10))
    with platform.sessions() as s:
        (item,) = emergency.queue(s, POLICY, later(20))
    return clip, lease, item.report_id


