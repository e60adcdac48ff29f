"""Staff sign-in: password then code, generic failures, replay, lockout, limits, rehash, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from overheard import audit
from overheard.accounts import passwords, totp
from overheard.accounts.models import LoginAttempt, StaffUser
from overheard.accounts.settings import LOCKOUT_S, LOCKOUT_THRESHOLD
from overheard.accounts.web import GENERIC_FAILURE
from overheard.db import transaction
from tests.accounts.conftest import code_step, password_step, sign_in, staff_row, submit, tune


def actions(platform) -> list[str]:
    with platform.sessions() as db:
        return list(db.scalars(select(audit.AuditEvent.action).order_by(audit.AuditEvent.seq)))


def wrong_code(user, clock) -> str:
    right = int(pyotp.TOTP(user.secret).at(clock()))
    return str((right + 1) % 1_000_000).zfill(6)


def test_password_then_code_signs_in(web, make_staff, clock, platform):
    user = make_staff("lead")
    first = password_step(web, user)
    assert first.status_code == 303 and first.headers["location"].startswith("/login/mfa")
    assert web.get("/account", follow_redirects=False).headers["location"] == "/login/mfa"
    second = code_step(web, user, clock)
    assert (second.status_code, second.headers["location"]) == (303, "/account")
    assert web.get("/account").status_code == 200
    assert actions(platform)[-1] == "account.login"


def test_next_is_followed_only_within_the_site(web, make_staff, clock):
    user = make_staff("admin")
    start = web.get("/admin/users", follow_redirects=False)
    assert start.headers["location"] == "/login?next=%2Fadmin%2Fusers"
    done = submit(
        web, "/login", username=user.pseudonym, password=user.password, next="/admin/users"
    )
    final = code_step_with_next(web, user, clock, done.headers["location"])
    assert final.headers["location"] == "/admin/users"
    web.post("/logout", data={"csrf_token": csrf_from(web, "/account")})
    clock.advance(totp.STEP_S)
    evil = submit(
        web, "/login", username=user.pseudonym, password=user.password, next="//evil.example/"
    )
    final = code_step_with_next(web, user, clock, evil.headers["location"])
    assert final.headers["location"] == "/account"


def code_step_with_next(web, user, clock, location):
    page = web.get(location)
    from tests.accounts.conftest import csrf_of

    nxt = page.text.split('name="next" value="', 1)[1].split('"', 1)[0]
    data = {
        "code": pyotp.TOTP(user.secret).at(clock()),
        "next": nxt,
        "csrf_token": csrf_of(page.text),
    }
    return web.post("/login/mfa", data=data, follow_redirects=False)


def csrf_from(web, path):
    from tests.accounts.conftest import csrf_of

    return csrf_of(web.get(path).text)


@pytest.mark.parametrize("case", ["wrong_password", "unknown_user", "disabled"])
def test_every_password_failure_looks_the_same(web, make_staff, platform, case):
    user = make_staff()
    name, password = user.pseudonym, user.password
    if case == "wrong_password":
        password = "not the right password"
    elif case == "unknown_user":
        name = "R-0000" if user.pseudonym != "R-0000" else "R-0001"
    else:
        from overheard.accounts import service

        with transaction(platform.sessions) as db:
            service.disable_staff(db, user.id)
    resp = submit(web, "/login", username=name, password=password)
    assert resp.status_code == 401
    assert GENERIC_FAILURE in resp.text
    assert "overheard_session" not in resp.headers.get("set-cookie", "")


def test_wrong_and_replayed_codes_are_refused(web, new_client, make_staff, clock, platform):
    user = make_staff()
    password_step(web, user)
    bad = code_step(web, user, clock, wrong_code(user, clock))
    assert bad.status_code == 401 and GENERIC_FAILURE in bad.text
    assert code_step(web, user, clock).status_code == 303
    # The same code again within its window, from another browser: refused.
    other = new_client()
    password_step(other, user)
    clock.advance(10)
    replay = code_step(
        other, user, clock, pyotp.TOTP(user.secret).at(clock() - timedelta(seconds=10))
    )
    assert replay.status_code == 401
    # A code of the previous step (still inside the window) is also spent.
    clock.advance(totp.STEP_S)
    previous = pyotp.TOTP(user.secret).at(clock() - timedelta(seconds=totp.STEP_S))
    assert code_step(other, user, clock, previous).status_code == 401
    assert code_step(other, user, clock).status_code == 303
    assert actions(platform).count("account.mfa_failure") == 3


def test_strangers_cannot_lock_an_account_out(web, new_client, make_staff, clock, platform):
    user = make_staff()
    limit = web.app.state.accounts.settings.login_account_max_attempts
    for _ in range(3 * limit):  # a stranger who knows the sign-in name, from one address
        assert password_step(web, user, "wrong password!!").status_code in (401, 429)
    assert password_step(web, user).status_code == 429  # that address is held back...
    assert staff_row(platform, user.id).locked_until is None  # ...but the account is not locked
    assert "account.lockout" not in actions(platform)
    owner = new_client(address="198.51.100.20")
    sign_in(owner, user, clock)  # the owner, elsewhere, signs in at once


def test_lockout_after_consecutive_code_failures(web, make_staff, clock, platform):
    user = make_staff()
    assert password_step(web, user).status_code == 303
    for _ in range(LOCKOUT_THRESHOLD):
        assert code_step(web, user, clock, wrong_code(user, clock)).status_code == 401
    assert staff_row(platform, user.id).locked_until is not None
    assert "account.lockout" in actions(platform)
    # The right password is refused with the same message while locked.
    locked = password_step(web, user)
    assert locked.status_code == 401 and GENERIC_FAILURE in locked.text
    clock.advance(LOCKOUT_S + 1)
    sign_in(web, user, clock)
    assert staff_row(platform, user.id).failed_logins == 0


def test_successful_sign_ins_are_not_counted(web, make_staff, clock):
    tune(web, login_account_max_attempts=2, login_ip_max_attempts=2)
    user = make_staff()
    for _ in range(6):  # a reviewer who signs in and out often
        sign_in(web, user, clock)
        submit(web, "/account", "/logout")


def test_code_failures_count_towards_lockout(web, make_staff, clock, platform):
    user = make_staff()
    password_step(web, user)
    for _ in range(LOCKOUT_THRESHOLD):
        code_step(web, user, clock, wrong_code(user, clock))
    assert code_step(web, user, clock).status_code == 401
    assert {"account.mfa_failure", "account.lockout"} <= set(actions(platform))


def test_rate_limit_per_client_address(web, make_staff, clock, platform):
    tune(web, login_ip_max_attempts=3, login_ip_window_s=60)
    users = [make_staff() for _ in range(4)]
    codes = [password_step(web, u, "wrong password!!").status_code for u in users[:3]]
    assert codes == [401, 401, 401]
    limited = password_step(web, users[3])
    assert limited.status_code == 429 and GENERIC_FAILURE in limited.text
    clock.advance(61)  # the window slides past the first attempts
    assert password_step(web, users[3]).status_code == 303
    with platform.sessions() as db:
        keys = db.scalars(select(LoginAttempt.key)).all()
    assert all(len(k) == 16 for k in keys)  # keyed hashes, never the address itself


def test_rate_limit_per_account_name_from_one_address(web, new_client, make_staff, clock):
    limits = {"login_account_max_attempts": 2, "lockout_threshold": 100}
    settings = tune(web, **limits)
    user = make_staff()
    for _ in range(2):
        password_step(web, user, "wrong password!!")
    assert password_step(web, user).status_code == 429
    # The same limit applies to a name that does not exist, so it tells nothing.
    for _ in range(2):
        password_step(web, replace(user, pseudonym="R-none"), "x" * 12)
    assert password_step(web, replace(user, pseudonym="R-none")).status_code == 429
    # Another address is not held back by these failures.
    elsewhere = new_client(address="198.51.100.7")
    tune(elsewhere, **limits)
    assert password_step(elsewhere, user).status_code == 303
    clock.advance(settings.login_account_window_s + 1)
    assert password_step(web, user).status_code == 303


def test_password_is_rehashed_when_parameters_change(web, make_staff, clock, platform):
    user = make_staff()
    old_hash = staff_row(platform, user.id).password_hash
    rt = web.app.state.accounts
    rt.settings = replace(rt.settings, argon2_time_cost=rt.settings.argon2_time_cost + 1)
    assert passwords.needs_rehash(rt.settings, old_hash)
    sign_in(web, user, clock)
    new_hash = staff_row(platform, user.id).password_hash
    assert new_hash != old_hash and not passwords.needs_rehash(rt.settings, new_hash)
    assert passwords.verify_password(rt.settings, new_hash, user.password)


def test_session_id_rotates_on_each_step(web, make_staff, clock):
    user = make_staff()
    clock.advance(totp.STEP_S)
    anonymous = web.get("/login")
    assert anonymous.status_code == 200
    first = password_step(web, user)
    after_password = first.cookies["overheard_session"]
    second = code_step(web, user, clock)
    after_code = second.cookies["overheard_session"]
    assert after_password != after_code
    # The id from before the second factor no longer opens anything.
    web.cookies.set("overheard_session", after_password, domain="testserver.local")
    web.cookies.clear()
    web.cookies.set("overheard_session", after_password)
    assert web.get("/account", follow_redirects=False).headers["location"].startswith("/login")
    web.cookies.clear()
    web.cookies.set("overheard_session", after_code)
    assert web.get("/account").status_code == 200


def test_secrets_are_not_stored_in_the_clear(web, make_staff, clock, platform):
    user = make_staff()
    sign_in(web, user, clock)
    raw = web.cookies["overheard_session"]
    with platform.sessions() as db:
        row = db.get(StaffUser, user.id)
        assert row.password_hash.startswith("$argon2id$")
        assert user.secret.encode() not in (row.totp_sealed or b"")
        from overheard.accounts.models import WebSession

        ids = db.scalars(select(WebSession.id_hash)).all()
    assert raw.encode() not in ids and all(len(i) == 32 for i in ids)


def test_failures_older_than_the_window_are_forgotten(web, make_staff, clock, platform):
    tune(web, login_ip_window_s=60, login_account_window_s=60)
    user = make_staff()
    for _ in range(3):
        password_step(web, user, "wrong password!!")
    clock.advance(61)
    password_step(web, user, "wrong password!!")
    with platform.sessions() as db:
        assert len(db.scalars(select(LoginAttempt)).all()) == 2  # one per key, the old ones gone
