"""The two-person rule: two different privacy officers, a written reason, one view in a short window."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.errors import BadRequest, Conflict
from overheard.hazmat import reidentify
from overheard.hazmat.reidentify import NotYours, ReidentifyPolicy, RequestLapsed
from tests.privacy._world import add_clip, claim, later, make_officer, sample

POLICY = ReidentifyPolicy(request_ttl_s=3600, view_window_s=300, min_reason_chars=20)
REASON = "Emergency report: the speaker described a medical emergency at home."


@pytest.fixture
def world(platform, make_household):  # type: ignore[no-untyped-def]
    """A reviewed clip (its pseudonym is what officers know) and two privacy officers."""
    clip = add_clip(platform, make_household)
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    return clip, lease.task.pseudonym, make_officer(platform), make_officer(platform)


def ask(platform, who, pseudonym: str, at: float = 0, reason: str = REASON):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        return reidentify.request(
            s, platform.gate, who, task_pseudonym=pseudonym, reason=reason, policy=POLICY, now=later(at)
        )


def decide(platform, who, request_id: str, at: float, approve: bool = True):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        return reidentify.decide(
            s, platform.gate, who, request_id, approve=approve, policy=POLICY, now=later(at))


def view(platform, who, request_id: str, at: float):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        return reidentify.view(s, platform.keyring, who, request_id, policy=POLICY, now=later(at))


def test_one_officer_alone_cannot(platform, world):  # type: ignore[no-untyped-def]
    _clip, pseudonym, alice, _bob = world
    req = ask(platform, alice, pseudonym)
    with pytest.raises(Conflict):
        view(platform, alice, req.id, 10)
    with pytest.raises(NotYours):
        decide(platform, alice, req.id, 20)  # not your own request


def test_a_second_officer_approves_and_the_requester_views_once(platform, world):  # type: ignore[no-untyped-def]
    clip, pseudonym, alice, bob = world
    req = ask(platform, alice, pseudonym)
    decide(platform, bob, req.id, 60)
    with pytest.raises(NotYours):
        view(platform, bob, req.id, 70)  # the approver never sees it
    identity = view(platform, alice, req.id, 80)
    assert identity.name == "Ada"
    with pytest.raises(Conflict):
        view(platform, alice, req.id, 90)  # once
    with platform.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("reidentify.%"))).all()
    assert [(e.action, e.actor, e.household_id) for e in events] == [
        ("reidentify.request", alice.pseudonym, clip.household_id),
        ("reidentify.approve", bob.pseudonym, clip.household_id),
        ("reidentify.view", alice.pseudonym, clip.household_id),
    ]


def test_an_approved_request_expires(platform, world):  # type: ignore[no-untyped-def]
    _clip, pseudonym, alice, bob = world
    req = ask(platform, alice, pseudonym)
    decide(platform, bob, req.id, 60)
    with pytest.raises(RequestLapsed):
        view(platform, alice, req.id, 60 + POLICY.view_window_s + 1)


def test_an_undecided_request_lapses_and_a_denied_one_never_opens(platform, world):  # type: ignore[no-untyped-def]
    _clip, pseudonym, alice, bob = world
    old = ask(platform, alice, pseudonym)
    assert decide(platform, bob, old.id, POLICY.request_ttl_s + 1).state == "lapsed"
    denied = ask(platform, alice, pseudonym, at=10)
    decide(platform, bob, denied.id, 20, approve=False)
    with pytest.raises(Conflict):
        view(platform, alice, denied.id, 30)


@pytest.mark.parametrize("role", ["annotator", "lead", "admin"])
def test_only_privacy_officers_take_part(platform, world, role: str):  # type: ignore[no-untyped-def]
    _clip, pseudonym, alice, _bob = world
    other = make_officer(platform, role)
    with pytest.raises(NotYours):
        ask(platform, other, pseudonym)
    req = ask(platform, alice, pseudonym)
    with pytest.raises(NotYours):
        decide(platform, other, req.id, 10)


def test_a_reason_is_required_and_the_clip_must_exist(platform, world):  # type: ignore[no-untyped-def]
    _clip, pseudonym, alice, _bob = world
    with pytest.raises(BadRequest):
        ask(platform, alice, pseudonym, reason="because")
    with pytest.raises(reidentify.NotFound):
        ask(platform, alice, "C-000000000000")



def _delete_clip(platform, clip) -> None:  # type: ignore[no-untyped-def]
    from overheard.recordings.deletion import delete_recordings

    delete_recordings(platform, clip.household_id, [clip.recording_id], actor="customer",
                      scope={"kind": "one"}, now=later(30))


def _delete_everything(platform, clip) -> None:  # type: ignore[no-untyped-def]
    from overheard.customer.service import delete_all

    delete_all(platform, clip.household_id, "customer", later(30))  # the identity carried over


@pytest.mark.parametrize("delete", [_delete_clip, _delete_everything])
def test_a_request_ends_with_its_clip(platform, world, delete) -> None:  # type: ignore[no-untyped-def]
    """A deleted clip is refused a request (above); a request filed, or approved, before the
    household deleted the clip is withdrawn with it and no longer opens the identity."""
    clip, pseudonym, alice, bob = world
    approved = ask(platform, alice, pseudonym)
    decide(platform, bob, approved.id, 10)
    pending = ask(platform, alice, pseudonym, at=20)
    delete(platform, clip)
    with pytest.raises(Conflict):
        view(platform, alice, approved.id, 40)
    with pytest.raises(Conflict):
        decide(platform, bob, pending.id, 50)
    with transaction(platform.sessions) as s:
        listed = reidentify.requests(s, POLICY, later(60))
        assert [r.state for r in listed] == ["withdrawn", "withdrawn"]
