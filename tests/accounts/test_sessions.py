"""Sessions: idle, absolute and pending timeouts, logout, cookie flags."""

from __future__ import annotations

from sqlalchemy import func, select

from overheard import audit
from overheard.accounts.models import WebSession
from overheard.accounts.settings import (
    SESSION_ABSOLUTE_TIMEOUT_S,
    SESSION_IDLE_TIMEOUT_S,
    SESSION_PENDING_TIMEOUT_S,
)
from tests.accounts.conftest import csrf_of, password_step, sign_in, tune


def session_rows(platform) -> int:
    with platform.sessions() as db:
        return db.scalar(select(func.count()).select_from(WebSession)) or 0


def sent_to_login(client) -> bool:
    resp = client.get("/account", follow_redirects=False)
    return resp.status_code == 302 and resp.headers["location"].startswith("/login?next=")


def test_idle_timeout_ends_the_session(web, make_staff, clock, platform):
    user = make_staff()
    sign_in(web, user, clock)
    clock.advance(SESSION_IDLE_TIMEOUT_S - 5)
    assert web.get("/account").status_code == 200  # activity keeps it alive
    clock.advance(SESSION_IDLE_TIMEOUT_S - 5)
    assert web.get("/account").status_code == 200
    clock.advance(SESSION_IDLE_TIMEOUT_S + 1)
    assert sent_to_login(web)
    assert session_rows(platform) == 0


def test_absolute_timeout_ends_an_active_session(web, make_staff, clock):
    user = make_staff()
    sign_in(web, user, clock)
    step = SESSION_IDLE_TIMEOUT_S - 60
    elapsed = 0.0
    while elapsed + step < SESSION_ABSOLUTE_TIMEOUT_S - totp_margin():
        clock.advance(step)
        elapsed += step
        assert web.get("/account").status_code == 200
    clock.advance(SESSION_ABSOLUTE_TIMEOUT_S - elapsed + 1)
    assert sent_to_login(web)


def totp_margin() -> float:
    # sign_in moved the clock one code step before the password was accepted.
    return 60.0


def test_pending_second_factor_expires(web, make_staff, clock):
    user = make_staff()
    password_step(web, user)
    clock.advance(SESSION_PENDING_TIMEOUT_S + 1)
    resp = web.get("/login/mfa", follow_redirects=False)
    assert (resp.status_code, resp.headers["location"]) == (302, "/login")


def test_logout_deletes_the_session_row(web, make_staff, clock, platform):
    user = make_staff()
    sign_in(web, user, clock)
    raw = web.cookies["overheard_session"]
    assert session_rows(platform) == 1
    out = web.post(
        "/logout", data={"csrf_token": csrf_of(web.get("/account").text)}, follow_redirects=False
    )
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert "overheard_session" not in web.cookies
    assert session_rows(platform) == 0
    web.cookies.set("overheard_session", raw)  # the old id is worth nothing now
    assert sent_to_login(web)
    with platform.sessions() as db:
        last = db.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq.desc())).first()
    assert (last.action, last.subject) == ("account.logout", user.id)


def set_cookie_headers(resp) -> list[str]:
    return resp.headers.get_list("set-cookie")


def session_cookie(resp) -> str:
    (header,) = [h for h in set_cookie_headers(resp) if h.startswith("overheard_session=")]
    return header.lower()


def test_cookie_flags_on_https(web, make_staff):
    user = make_staff()
    header = session_cookie(password_step(web, user))
    assert "httponly" in header and "samesite=strict" in header and "secure" in header
    assert "path=/" in header


def test_cookie_not_secure_only_on_plain_http_to_loopback(new_client, make_staff):
    user = make_staff()
    local = new_client("http://localhost", address="127.0.0.1")
    assert "secure" not in session_cookie(password_step(local, user))
    assert "samesite=strict" in session_cookie(password_step(local, user))
    named = new_client("http://overheard.example")
    page = named.get("/login")
    (header,) = [h for h in set_cookie_headers(page) if h.startswith("overheard_csrf=")]
    assert "secure" in header.lower()  # plain http to a real host name: still Secure,
    assert password_step(named, user).status_code == 403  # so the form cannot be replayed


def test_cookie_always_secure_when_configured(new_client):
    local = new_client("http://127.0.0.1", address="127.0.0.1")
    plain = local.get("/login").headers.get_list("set-cookie")
    assert plain and all("secure" not in h.lower() for h in plain)
    local.cookies.clear()
    tune(local, session_cookie_secure="always")
    strict = local.get("/login").headers.get_list("set-cookie")
    assert strict and all("secure" in h.lower() for h in strict)


def test_pre_session_cookie_has_the_same_flags(web):
    page = web.get("/login")
    (header,) = [h for h in set_cookie_headers(page) if h.startswith("overheard_csrf=")]
    assert all(flag in header.lower() for flag in ("httponly", "samesite=strict", "secure"))
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
