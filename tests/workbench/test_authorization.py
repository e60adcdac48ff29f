"""Deny by default on every workbench route, with every role and with none; audio URLs that are
bound to one session and one lease, unguessable, and short-lived."""

from __future__ import annotations

import re

import pytest

from overheard.accounts.models import Role
from overheard.workbench.audio_urls import AUDIO_URL_MAX_USES, AUDIO_URL_TTL_S
from tests.accounts.conftest import csrf_of, password_step, sign_in
from tests.accounts.test_role_matrix import script_only, staff_routes
from tests.workbench.conftest import page_fields


@pytest.fixture
def database_url(tmp_path) -> str:
    """These tests run on SQLite only; the queue's concurrency tests cover PostgreSQL too."""
    return f"sqlite:///{tmp_path / 'overheard.db'}"

REVIEWERS = {"annotator", "lead"}
OVERSEERS = {"lead", "admin", "privacy_officer"}
MATRIX = [
    ("GET", "/review", REVIEWERS),
    ("POST", "/review/submit", REVIEWERS),
    ("POST", "/review/skip", REVIEWERS),
    ("POST", "/review/heartbeat", REVIEWERS),
    ("POST", "/review/undo", REVIEWERS),
    ("GET", "/review/events/{lease_id}", REVIEWERS),
    ("GET", "/review/audio/{token}", REVIEWERS),
    ("GET", "/review/api/session", REVIEWERS),
    ("POST", "/review/api/claim", REVIEWERS),
    ("GET", "/review/api/task/{lease_id}", REVIEWERS),
    ("POST", "/review/api/heartbeat", REVIEWERS),
    ("POST", "/review/api/skip", REVIEWERS),
    ("POST", "/review/api/submit", REVIEWERS),
    ("POST", "/review/api/undo", REVIEWERS),
    ("GET", "/review/api/stats", REVIEWERS),
    ("GET", "/review/lead", OVERSEERS),
    ("GET", "/review/lead/adjudications/{agreement_id}", {"lead"}),
    ("GET", "/review/lead/adjudications/{agreement_id}/state", {"lead"}),
    ("POST", "/review/lead/adjudications/{agreement_id}", {"lead"}),
    ("POST", "/review/lead/reviewed/{annotation_id}/second", {"lead"}),
    ("POST", "/review/lead/reviewed/{annotation_id}/gold", {"lead"}),
    ("GET", "/review/lead/models", OVERSEERS),
    ("POST", "/review/lead/models/{version_id}/approve", {"lead"}),
    ("GET", "/review/lead/intents", OVERSEERS),
    ("POST", "/review/lead/intents", {"lead"}),
]
IDENTITIES = ["anonymous", "half_signed_in", *[r.value for r in Role]]
PARAM_RE = re.compile(r"\{[^}]+\}")


SCRIPT_ONLY = {"/review/lead/adjudications/{agreement_id}/state"}
"""Routes only a page's script asks: a stranger gets 401 JSON there, never the sign-in page."""


def test_matrix_covers_every_workbench_route(web):
    declared = {(m, p): roles for m, p, roles in staff_routes(web.app) if p.startswith("/review")}
    assert set(declared) == {(m, p) for m, p, _ in MATRIX}
    assert all(declared[(m, p)] == frozenset(r) for m, p, r in MATRIX)
    assert {p for p in script_only(web.app) if p.startswith("/review")} == SCRIPT_ONLY


def _become(web, identity, make_staff, clock) -> str:
    if identity == "anonymous":
        return csrf_of(web.get("/login").text)
    if identity == "half_signed_in":
        password_step(web, make_staff("annotator"))
        return csrf_of(web.get("/login/mfa").text)
    sign_in(web, make_staff(identity), clock)
    return csrf_of(web.get("/account").text)


@pytest.mark.parametrize("identity", IDENTITIES)
def test_every_route_with_every_role_and_none(web, make_staff, clock, make_world, identity):
    make_world(1)
    token = _become(web, identity, make_staff, clock)
    for method, template, roles in MATRIX:
        path = PARAM_RE.sub("x" * 40, template)
        if method == "GET":
            reply = web.get(path, follow_redirects=False)
        else:
            reply = web.post(path, data={"csrf_token": token, "lease_id": "x"},
                             headers={"X-CSRF-Token": token}, follow_redirects=False)
        where = reply.headers.get("location", "")
        if identity in ("anonymous", "half_signed_in") and template in SCRIPT_ONLY:
            assert reply.status_code == 401 and reply.json()["error"]["code"] == "sign_in_required", path
        elif identity == "anonymous":
            assert reply.status_code in (302, 303) and where.startswith("/login?next="), (method, path)
        elif identity == "half_signed_in":
            assert reply.status_code in (302, 303) and where == "/login/mfa", (method, path)
        elif identity not in roles:
            assert reply.status_code == 403, (identity, method, path, reply.status_code)
        else:
            # Past the gate: the route itself answers (a page, a redirect, or a 4xx about the input).
            assert reply.status_code not in (401, 403) and not where.startswith("/login"), (
                identity, method, path, reply.status_code)


def test_an_annotator_cannot_fetch_another_annotators_clip(make_world, staff_client):
    make_world(2)
    alice, _ = staff_client("annotator")
    bob, _ = staff_client("annotator")
    hers = page_fields(alice.get("/review").text)
    bob.get("/review")  # Bob holds a clip of his own
    stolen = bob.get(hers["audio_url"])
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "audio_url_invalid"
    headers = {"X-CSRF-Token": bob.get("/review/api/session").json()["csrf_token"]}
    assert bob.get(f"/review/api/task/{hers['lease_id']}").status_code == 409
    taken = bob.post("/review/api/submit", headers=headers,
                     json={"lease_id": hers["lease_id"], "transcript": "mine now"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "lease_expired"
    assert alice.get(hers["audio_url"]).status_code == 200


def test_a_lead_url_does_not_open_an_annotators_lease_for_a_lead(make_world, staff_client):
    make_world(1)
    annotator, _ = staff_client("annotator")
    lead, _ = staff_client("lead")
    url = page_fields(annotator.get("/review").text)["audio_url"]
    assert lead.get(url).status_code == 404


def test_audio_urls_expire(clock, make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    url = page_fields(web.get("/review").text)["audio_url"]
    clock.advance(AUDIO_URL_TTL_S + 1)
    assert web.get(url).status_code == 404
    fresh = page_fields(web.get("/review").text)["audio_url"]
    assert fresh != url and web.get(fresh).status_code == 200


def test_audio_urls_are_few_use(make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    url = page_fields(web.get("/review").text)["audio_url"]
    codes = [web.get(url).status_code for _ in range(AUDIO_URL_MAX_USES + 1)]
    assert codes == [200] * AUDIO_URL_MAX_USES + [404]


def test_audio_urls_are_unguessable_and_tamper_proof(make_world, staff_client):
    make_world(1)
    web, _ = staff_client("annotator")
    urls = {page_fields(web.get("/review").text)["audio_url"] for _ in range(5)}
    assert len(urls) == 5  # a new random URL per page, for the same lease
    url = urls.pop()
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 100  # 96-bit nonce + sealed lease, session tag and expiry
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (flipped, token[:-4], "x" * len(token), ""):
        assert web.get(f"/review/audio/{bad}").status_code == 404


def test_audio_urls_die_with_the_session(platform, clock, make_world, staff_client):
    make_world(1)
    web, user = staff_client("annotator")
    fields = page_fields(web.get("/review").text)
    web.post("/logout", data={"csrf_token": fields["csrf_token"]})
    sign_in(web, user, clock)
    assert web.get(fields["audio_url"]).status_code == 404
