"""Sessions: idle, absolute and pending timeouts, logout, cookie flags."""

from __future__ import annotations

from sqlalchemy import Engine, delete, event, func, select, update

from overheard import audit
from overheard.accounts import context, sessions
from overheard.accounts.models import StaffUser, WebSession
from overheard.accounts.settings import (
    SESSION_ABSOLUTE_TIMEOUT_S,
    SESSION_IDLE_TIMEOUT_S,
    SESSION_PENDING_TIMEOUT_S,
)
from overheard.db import transaction
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


def _columns(row: object, table) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in table.c}


def test_a_staff_look_up_reads_in_one_statement_what_loading_the_rows_gives(
    web, make_staff, clock, platform
):
    """The look-up of a staff session that needs no write is one Core read, and gives the same
    session and account, column for column, as loading both rows through an ORM session."""
    user = make_staff("lead")
    sign_in(web, user, clock)
    raw = web.cookies["overheard_session"]
    runtime = web.app.state.accounts
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        auth = context._load(runtime, raw)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert [s.split()[0] for s in statements if not s.startswith("BEGIN")] == ["SELECT"]
    with platform.readers() as db:
        row = db.get(WebSession, sessions.hash_id(raw))
        staff = db.get(StaffUser, user.id)
        assert row is not None and staff is not None
        assert _columns(auth.row, WebSession.__table__) == _columns(row, WebSession.__table__)
        assert _columns(auth.staff, StaffUser.__table__) == _columns(staff, StaffUser.__table__)
    assert (auth.raw_id, auth.kind, auth.customer) == (raw, "staff", None)


def test_an_account_disabled_or_a_session_ended_elsewhere_is_refused_at_the_next_request(
    web, new_client, make_staff, clock, platform
):
    """Nothing of a look-up is kept between requests: a change committed by another process (the
    CLI, another web process) takes effect at this process's very next request."""
    user, other = make_staff(), make_staff(name="Ada Lovelace")
    sign_in(web, user, clock)
    second = new_client()
    sign_in(second, other, clock)
    assert web.get("/account").status_code == 200
    assert second.get("/account").status_code == 200
    with transaction(platform.sessions) as db:  # as `overheard users disable` would commit it
        db.execute(update(StaffUser).where(StaffUser.id == user.id).values(disabled_at=clock()))
    assert sent_to_login(web)
    assert second.get("/account").status_code == 200
    with transaction(platform.sessions) as db:  # every session of the account ended
        db.execute(delete(WebSession).where(WebSession.staff_id == other.id))
    assert sent_to_login(second)


def test_a_role_taken_away_elsewhere_is_refused_at_the_next_request(
    web, make_staff, clock, platform
):
    user = make_staff("lead")
    sign_in(web, user, clock)
    assert web.get("/review/api/session").status_code == 200
    with transaction(platform.sessions) as db:
        db.execute(update(StaffUser).where(StaffUser.id == user.id).values(role="privacy_officer"))
    assert web.get("/review/api/session").status_code == 403
