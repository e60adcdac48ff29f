"""A submit that claims the next task (``"next": true``) in the annotation's own transaction, on
SQLite and PostgreSQL: what it refuses (and then neither stores nor claims anything), that the
annotation is stored whatever the next claim meets, and that no clip goes to two reviewers."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from overheard import audit
from overheard.audit import AuditEvent
from overheard.errors import KeyUnavailable
from overheard.review.models import Annotation, ReviewTask
from tests.accounts.conftest import make_client, sign_in
from tests.workbench.conftest import api_csrf

CLAIM = "/review/api/claim?with_task=true"


def _submit(web: TestClient, headers: dict[str, str], lease_id: str, **extra: object):  # type: ignore[no-untyped-def]
    body = {"lease_id": lease_id, "transcript": "x", "intent": "weather", "next": True, **extra}
    return web.post("/review/api/submit", headers=headers, json=body)


def _stored(platform) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Annotations, audit events and leased tasks so far."""
    with platform.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Annotation)),
            s.scalar(select(func.count()).select_from(AuditEvent)),
            s.scalar(select(func.count()).select_from(ReviewTask).where(ReviewTask.state == "leased")),
        )


def _refused(reply, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code


def test_a_refused_submit_with_next_stores_and_claims_nothing(platform, clock, make_world, staff_client):  # type: ignore[no-untyped-def]
    make_world(3)
    ada, _ = staff_client("annotator")
    bob, _ = staff_client("annotator")
    admin, _ = staff_client("admin")
    ada_h, bob_h = api_csrf(ada), api_csrf(bob)
    mine = ada.post(CLAIM, headers=ada_h).json()["task"]
    theirs = bob.post(CLAIM, headers=bob_h).json()["task"]
    before = _stored(platform)
    # Another reviewer's lease, and ids that name no lease of the caller's.
    _refused(_submit(bob, bob_h, mine["lease_id"]), 409, "lease_expired")
    for wrong in (mine["task_id"], mine["pseudonym"], "0" * 32, ""):
        _refused(_submit(ada, ada_h, wrong), 409, "lease_expired")
    _refused(_submit(ada, ada_h, mine["lease_id"], intent="DROP TABLE"), 400, "bad_intent")
    _refused(_submit(ada, ada_h, mine["lease_id"], flags=["nosuchflag"]), 400, "bad_flag")
    _refused(_submit(ada, {}, mine["lease_id"]), 403, "csrf_failed")
    _refused(_submit(ada, {"X-CSRF-Token": bob_h["X-CSRF-Token"]}, mine["lease_id"]), 403, "csrf_failed")
    assert _submit(admin, {}, mine["lease_id"]).status_code == 403  # not a reviewer's role
    with make_client(platform, clock, address="192.0.2.99") as stranger:  # no session at all
        nobody = _submit(stranger, {"Accept": "application/json"}, mine["lease_id"])
    _refused(nobody, 403, "csrf_failed")
    assert _stored(platform) == before  # no annotation, no event, no third clip leased
    # Both leases are intact: Bob's submit stores his answer and brings him the third clip.
    sent = _submit(bob, bob_h, theirs["lease_id"]).json()
    third = sent["next"]["task"]
    assert sent["submitted"] and third["task_id"] not in (mine["task_id"], theirs["task_id"])
    # A lease that ran out refuses the submit: nothing stored, no clip claimed for Ada.
    clock.advance(301)  # lease_s is 300
    before = _stored(platform)
    _refused(_submit(ada, ada_h, mine["lease_id"]), 409, "lease_expired")
    assert _stored(platform) == before


def test_the_answer_is_stored_when_the_next_text_cannot_be_opened(platform, make_world, staff_client, monkeypatch):  # type: ignore[no-untyped-def]
    # The next claim's transaction is the annotation's: a refusal there rolls both back and they
    # are made apart, as before: the answer stored, the next clip leased without its text.
    make_world(2)
    web, _user = staff_client("annotator")
    headers = api_csrf(web)
    task = web.post(CLAIM, headers=headers).json()["task"]
    before = _stored(platform)[1]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise KeyUnavailable("the data key was destroyed")

    monkeypatch.setattr(type(platform.gate), "open_text", refuse)
    sent = _submit(web, headers, task["lease_id"]).json()
    following = sent["next"]["task"]
    assert sent["submitted"] and following is not None and "audio_url" not in following
    with platform.sessions() as s:
        assert s.get(Annotation, sent["annotation_id"]) is not None
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.seq > before)).all()
        assert audit.verify_chain(s).ok
    assert actions == ["review.submit", "review.claim"]


def test_simultaneous_submits_with_next_never_hand_a_clip_to_two_reviewers(  # type: ignore[no-untyped-def]
    platform, clock, make_world, staff_client
):
    tasks = 18
    make_world(tasks)
    team = [staff_client("annotator") for _ in range(5)]
    tab = make_client(platform, clock, address="192.0.2.77")  # the first annotator's second tab
    tab.__enter__()
    try:
        sign_in(tab, team[0][1], clock)
        clients = [client for client, _ in team] + [tab]
        headers = [api_csrf(client) for client in clients]
        start = threading.Barrier(len(clients))

        def work(i: int) -> list[str]:
            web, done = clients[i], []
            start.wait()
            task = web.post(CLAIM, headers=headers[i]).json()["task"]
            while task is not None:
                reply = _submit(web, headers[i], task["lease_id"])
                if reply.status_code == 409:  # the other tab submitted this lease first
                    task = web.post(CLAIM, headers=headers[i]).json()["task"]
                    continue
                assert reply.status_code == 200, reply.text
                done.append(task["task_id"])
                task = reply.json()["next"]["task"]
            return done

        with ThreadPoolExecutor(len(clients)) as pool:
            results = list(pool.map(work, range(len(clients))))
    finally:
        tab.__exit__(None, None, None)
    handed = Counter(task for done in results for task in done)
    assert len(handed) == tasks and max(handed.values()) == 1
    assert sum(1 for done in results if done) > 1  # the work was really shared
    with platform.sessions() as s:
        per_task = s.execute(select(Annotation.task_id, func.count()).group_by(Annotation.task_id)).all()
        assert len(per_task) == tasks and {n for _, n in per_task} == {1}
        assert Counter(s.scalars(select(ReviewTask.state)).all()) == {"done": tasks}
        claims = s.scalars(select(AuditEvent.details).where(AuditEvent.action == "review.claim")).all()
        assert audit.verify_chain(s).ok
    # No lease ran out meanwhile (the clock stood still): each clip was claimed exactly once.
    assert sorted(Counter(d["task"] for d in claims).values()) == [1] * tasks
