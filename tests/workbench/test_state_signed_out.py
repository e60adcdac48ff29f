"""A page's state route answers a session that ended (signed out, account disabled, idle) with a
plain 401 JSON error, whatever the request accepts: never a redirect to the sign-in page, which a
page's script would follow to a 200 and read as "still open"."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from overheard.accounts.service import disable_staff
from overheard.db import transaction
from overheard.review.policy import ReviewPolicy
from tests.accounts.conftest import Clock, StaffLogin, csrf_of
from tests.workbench.conftest import page_fields

DOUBLE = ReviewPolicy(sample_rate=1.0, household_cap=100, double_share=1.0, gold_share=0.0)
ACCEPTS = ["*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json"]
"""What a page's fetch, a typed address and the page's script send."""


@pytest.fixture
def database_url(tmp_path) -> str:
    """These tests run on SQLite only; the queue's concurrency tests cover PostgreSQL too."""
    return f"sqlite:///{tmp_path / 'overheard.db'}"


def _logout(client: TestClient, platform, user: StaffLogin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/account").text)})


def _disable(client: TestClient, platform, user: StaffLogin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        disable_staff(s, user.id, actor="admin", now=clock())


def _idle(client: TestClient, platform, user: StaffLogin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    clock.advance(client.app.state.accounts.settings.session_idle_timeout_s + 1)


ENDINGS: dict[str, Callable[..., None]] = {"logout": _logout, "disabled": _disable, "idle": _idle}


def _adjudication_state(make_world, staff_client, lead: TestClient) -> str:  # type: ignore[no-untyped-def]
    """The state route of the lead's page on a disagreement between two annotators."""
    make_world(1, policy=DOUBLE)
    for said in ("turn on the lights", "play some jazz music now"):
        web, _ = staff_client("annotator")
        fields = page_fields(web.get("/review").text)
        web.post("/review/submit", data={**fields, "transcript": said, "intent": "none"})
    link = re.search(r'href="(/review/lead/adjudications/[^"]+)"', lead.get("/review/lead").text)
    assert link is not None
    state = re.search(r'data-state-url="([^"]+)"', lead.get(link.group(1)).text)
    assert state is not None
    return state.group(1)


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_the_adjudication_state_answers_an_ended_session_401_json(
    platform, clock, make_world, staff_client, ending: str
):  # type: ignore[no-untyped-def]
    lead, user = staff_client("lead")
    state = _adjudication_state(make_world, staff_client, lead)
    assert lead.get(state).status_code == 204
    ENDINGS[ending](lead, platform, user, clock)
    for accept in ACCEPTS:
        reply = lead.get(state, headers={"Accept": accept}, follow_redirects=False)
        assert reply.status_code == 401, (accept, reply.status_code, reply.headers.get("location"))
        assert reply.json() == {"error": {"code": "sign_in_required", "message": "sign in to continue"}}
        assert "location" not in reply.headers and reply.headers["cache-control"] == "no-store"


def test_a_stranger_gets_401_json_and_the_page_itself_still_sends_to_sign_in(web) -> None:  # type: ignore[no-untyped-def]
    state = web.get("/review/lead/adjudications/x/state", follow_redirects=False)
    assert state.status_code == 401 and state.json()["error"]["code"] == "sign_in_required"
    page = web.get("/review/lead/adjudications/x", follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"].startswith("/login?next=")


def test_polling_the_state_does_not_hold_off_the_idle_timeout(clock, make_world, staff_client):  # type: ignore[no-untyped-def]
    """A page left open asks its state route every few seconds; that is not the lead at work, so
    the session still ends after ``session_idle_timeout_s`` and the page then drops the clip.
    Before, each poll renewed the session: an open page was never signed out for idleness."""
    lead, _ = staff_client("lead")
    state = _adjudication_state(make_world, staff_client, lead)
    idle_s = lead.app.state.accounts.settings.session_idle_timeout_s
    lead.get("/review/lead")  # the lead's last activity
    polled_s = 0.0
    while polled_s + 120 < idle_s:
        clock.advance(120)
        polled_s += 120
        assert lead.get(state).status_code == 204, polled_s
    clock.advance(idle_s - polled_s + 1)
    assert lead.get(state).status_code == 401
