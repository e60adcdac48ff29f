"""The /privacy pages: privacy officers only; a case player; the two-person rule through the browser."""

from __future__ import annotations

import re

import pytest

from overheard.accounts.aliases import alias_key, staff_alias
from overheard.accounts.service import disable_staff
from overheard.db import transaction
from overheard.protect import serving
from overheard.review import hooks as review_hooks
from tests.accounts.conftest import csrf_of, sign_in
from tests.privacy._world import add_clip, claim, sample, submit

PAGES = ["/privacy", "/privacy/reidentify", "/privacy/cases/x", "/privacy/cases/x/audio"]
FORMS = [
    "/privacy/reidentify",
    "/privacy/reidentify/x/decide",
    "/privacy/reidentify/x/view",
    "/privacy/emergencies/x/case",
    "/privacy/emergencies/x/act",
]
SAID = "please help this is john smith"


@pytest.fixture
def flagged(platform, make_household, clock):  # type: ignore[no-untyped-def]
    serving.install(platform)
    review_hooks.register()
    clip = add_clip(platform, make_household, hypothesis=SAID)
    sample(platform, clip)
    lease = claim(platform, "R-a1", clock())
    submit(platform, lease, "R-a1", SAID, "emergency", now=clock())
    return clip, lease


@pytest.mark.parametrize("role", ["annotator", "lead"])
def test_annotators_and_leads_are_refused(web, make_staff, clock, role: str):  # type: ignore[no-untyped-def]
    sign_in(web, make_staff(role), clock)
    token = csrf_of(web.get("/account").text)
    for page in PAGES:
        assert web.get(page).status_code == 403, page
    for form in FORMS:
        assert web.post(form, data={"csrf_token": token}).status_code == 403, form


def test_an_officer_handles_an_emergency(web, make_staff, clock, flagged):  # type: ignore[no-untyped-def]
    _clip, lease = flagged
    sign_in(web, make_staff("privacy_officer"), clock)
    queue = web.get("/privacy")
    assert queue.status_code == 200 and lease.task.pseudonym in queue.text
    # The reporting annotator is named by alias, never by sign-in name.
    # (as a whole word: the signed-in officer's own pseudonym, shown in the header, is random and
    # may begin "R-a1")
    assert re.search(r"\bR-a1\b", queue.text) is None
    assert staff_alias(alias_key(web.app.state.platform.secrets), "R-a1") in queue.text
    action = re.search(r'action="(/privacy/emergencies/[0-9a-f]+/case)"', queue.text)
    assert action
    opened = web.post(
        action.group(1), data={"csrf_token": csrf_of(queue.text)}, follow_redirects=False
    )
    assert opened.status_code == 303
    case = web.get(opened.headers["location"])
    assert "please help this is [NAME]" in case.text and "john" not in case.text
    assert "media-src 'self'" in case.headers["content-security-policy"]
    audio = web.get(opened.headers["location"] + "/audio")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    # Played in the page, never offered as a download, kept by no cache, opened as nothing else.
    assert audio.headers["cache-control"] == "no-store"
    assert audio.headers["content-disposition"] == "inline"
    assert audio.headers["content-security-policy"] == "default-src 'none'; sandbox"
    report = action.group(1).rsplit("/", 2)[-2]
    closed = web.post(
        f"/privacy/emergencies/{report}/act",
        data={"csrf_token": csrf_of(case.text), "action": "close", "note": "Checked: no danger."},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    assert lease.task.pseudonym not in web.get("/privacy").text


def test_two_officers_through_the_pages(web, new_client, make_staff, clock, flagged):  # type: ignore[no-untyped-def]
    _clip, lease = flagged
    alice, bob = make_staff("privacy_officer"), make_staff("privacy_officer")
    sign_in(web, alice, clock)
    other = new_client()
    sign_in(other, bob, clock)
    page = web.get("/privacy/reidentify")
    reason = "The annotator reported a possible medical emergency in this clip."
    asked = web.post(
        "/privacy/reidentify",
        data={"csrf_token": csrf_of(page.text), "task": lease.task.pseudonym, "reason": reason},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    request_id = re.search(r'id="request-([0-9a-f]+)"', web.get("/privacy/reidentify").text).group(
        1
    )  # type: ignore[union-attr]
    own = web.get("/privacy/reidentify")
    refused = web.post(
        f"/privacy/reidentify/{request_id}/decide",
        data={"csrf_token": csrf_of(own.text), "decision": "approve"},
    )
    assert refused.status_code == 403
    seen = other.get("/privacy/reidentify")
    assert reason in seen.text  # opened from its seal for the page
    approved = other.post(
        f"/privacy/reidentify/{request_id}/decide",
        data={"csrf_token": csrf_of(seen.text), "decision": "approve", "note": "Danger to life."},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    assert "Danger to life." in web.get("/privacy/reidentify").text
    shown = web.post(
        f"/privacy/reidentify/{request_id}/view", data={"csrf_token": csrf_of(own.text)}
    )
    assert shown.status_code == 200 and "Ada" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    again = web.post(
        f"/privacy/reidentify/{request_id}/view", data={"csrf_token": csrf_of(own.text)}
    )
    assert again.status_code == 409


def test_a_case_names_the_other_officers_by_alias(web, new_client, make_staff, clock, flagged):  # type: ignore[no-untyped-def]
    """The case's history shows what each officer did: a colleague by alias, as the queue does,
    never by sign-in name."""
    alice, bob = make_staff("privacy_officer"), make_staff("privacy_officer")
    sign_in(web, alice, clock)
    queue = web.get("/privacy")
    report = re.search(r'action="/privacy/emergencies/([0-9a-f]+)/case"', queue.text).group(1)  # type: ignore[union-attr]
    acted = web.post(
        f"/privacy/emergencies/{report}/act",
        data={"csrf_token": csrf_of(queue.text), "action": "acknowledge", "note": "Looking."},
        follow_redirects=False,
    )
    assert acted.status_code == 303
    other = new_client()
    sign_in(other, bob, clock)
    page = other.get("/privacy")
    opened = other.post(
        f"/privacy/emergencies/{report}/case",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    case = other.get(opened.headers["location"])
    assert case.status_code == 200 and "Looking." in case.text
    assert alice.pseudonym not in case.text
    assert staff_alias(alias_key(web.app.state.platform.secrets), alice.pseudonym) in case.text


@pytest.mark.parametrize("ending", ["logout", "disabled", "idle"])
def test_the_case_state_answers_an_ended_session_401_json(web, make_staff, clock, flagged, ending):  # type: ignore[no-untyped-def]
    """Never a redirect to the sign-in page: the case page's script would follow it to a 200 and
    keep the clip and its text on screen."""
    officer = make_staff("privacy_officer")
    sign_in(web, officer, clock)
    queue = web.get("/privacy")
    action = re.search(r'action="(/privacy/emergencies/[0-9a-f]+/case)"', queue.text)
    assert action
    case = web.post(action.group(1), data={"csrf_token": csrf_of(queue.text)}).text
    state = re.search(r'data-state-url="([^"]+)"', case).group(1)  # type: ignore[union-attr]
    assert web.get(state).status_code == 204
    if ending == "logout":
        web.post("/logout", data={"csrf_token": csrf_of(case)})
    elif ending == "disabled":
        with transaction(web.app.state.platform.sessions) as s:
            disable_staff(s, officer.id, actor="admin", now=clock())
    else:
        clock.advance(web.app.state.accounts.settings.session_idle_timeout_s + 1)
    for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json"):
        reply = web.get(state, headers={"Accept": accept}, follow_redirects=False)
        assert reply.status_code == 401, (accept, reply.status_code, reply.headers.get("location"))
        assert reply.json()["error"]["code"] == "sign_in_required" and "location" not in reply.headers
