"""CSRF: every POST needs the token of its own session; missing or wrong -> 403."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import csrf_of, sign_in


@pytest.fixture
def admin_web(web, make_staff, clock):
    admin = make_staff("admin", name="Admin Person")
    sign_in(web, admin, clock)
    return web


@pytest.fixture
def target(make_staff):
    return make_staff("annotator", name="Target Person")


def disable(web, target, **data):
    return web.post(f"/admin/users/{target.id}/disable", data=data, follow_redirects=False)


def test_post_with_the_right_token_works(admin_web, target):
    token = csrf_of(admin_web.get("/admin/users").text)
    assert disable(admin_web, target, csrf_token=token).status_code == 303


def test_post_without_token_is_refused(admin_web, target):
    resp = disable(admin_web, target)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_failed"


def test_post_with_wrong_token_is_refused(admin_web, target):
    token = csrf_of(admin_web.get("/admin/users").text)
    resp = disable(
        admin_web, target, csrf_token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    )
    assert resp.status_code == 403


def test_browser_gets_an_html_error_page(admin_web, target):
    resp = admin_web.post(
        f"/admin/users/{target.id}/disable",
        data={"csrf_token": "nope"},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("text/html")
    assert 'data-code="csrf_failed"' in resp.text


def test_token_of_another_session_is_refused(admin_web, new_client, make_staff, clock, target):
    other_admin = make_staff("admin", name="Other Admin")
    other = new_client()
    sign_in(other, other_admin, clock)
    foreign = csrf_of(other.get("/admin/users").text)
    assert disable(admin_web, target, csrf_token=foreign).status_code == 403


def test_header_token_is_accepted(admin_web, target):
    token = csrf_of(admin_web.get("/admin/users").text)
    resp = admin_web.post(
        f"/admin/users/{target.id}/disable", headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert resp.status_code == 303


def test_sign_in_form_needs_its_pre_session_token(web, make_staff):
    user = make_staff()
    fields = {"username": user.pseudonym, "password": user.password}
    assert web.post("/login", data=fields, follow_redirects=False).status_code == 403
    page = web.get("/login")
    token = csrf_of(page.text)
    web.cookies.delete("overheard_csrf")  # a token without its cookie is worth nothing
    assert web.post("/login", data={**fields, "csrf_token": token}).status_code == 403


def test_token_changes_when_the_session_id_does(web, make_staff, clock):
    before = csrf_of(web.get("/login").text)
    sign_in(web, make_staff(), clock)
    after = csrf_of(web.get("/account").text)
    assert before != after
    resp = web.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert resp.status_code == 403
