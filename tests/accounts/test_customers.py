"""Customer accounts: invitation, e-mail sign-in, optional TOTP, and separation from staff."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from overheard import audit
from overheard.accounts import service, totp
from overheard.accounts.models import CustomerAccount
from overheard.accounts.web import GENERIC_FAILURE
from overheard.db import transaction
from overheard.errors import NotFound
from tests.accounts.conftest import PASSWORD, csrf_of, invite, sign_in, submit

EMAIL = "owner@example.org"


def accept(client, token: str, password: str = PASSWORD):
    return submit(client, f"/invite/{token}", password=password, password_confirm=password)


def me_login(client, email: str = EMAIL, password: str = PASSWORD):
    return submit(client, "/me/login", email=email, password=password)


@pytest.fixture
def household(make_household):
    return make_household(email=EMAIL)


def test_invitation_sets_password_and_signs_in(web, platform, household):
    token = invite(platform, household.household_id)
    done = accept(web, token)
    assert (done.status_code, done.headers["location"]) == (303, "/me")
    page = web.get("/me")
    assert page.status_code == 200 and household.household_id in page.text
    assert web.get(f"/invite/{token}").status_code == 404  # one time only


def test_invitation_expires_and_needs_a_household(web, platform, household, clock):
    token = invite(platform, household.household_id)
    with transaction(platform.sessions) as db:
        account = db.scalars(select(CustomerAccount)).one()
        account.invite_expires_at = clock() - timedelta(seconds=1)
    assert web.get(f"/invite/{token}").status_code == 404
    with pytest.raises(NotFound), transaction(platform.sessions) as db:
        service.invite_customer(db, "hh_missing")


def test_sign_in_by_email(web, new_client, platform, household):
    accept(web, invite(platform, household.household_id))
    other = new_client()
    signed = me_login(other, " Owner@Example.org ")
    assert (signed.status_code, signed.headers["location"]) == (303, "/me")
    assert household.household_id in other.get("/me").text
    for email, password in [(EMAIL, "not the password"), ("nobody@example.org", PASSWORD)]:
        failed = me_login(new_client(), email, password)
        assert failed.status_code == 401 and GENERIC_FAILURE in failed.text


def test_optional_totp_then_required_at_sign_in(web, new_client, platform, household, clock):
    accept(web, invite(platform, household.household_id))
    assert "is off" in web.get("/me/security").text
    setup = web.get("/me/security/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', setup.text).group(1).replace(" ", "")
    code = pyotp.TOTP(secret).at(clock())
    ok = web.post(
        "/me/security/totp",
        data={"code": code, "csrf_token": csrf_of(setup.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "is on" in web.get("/me/security").text

    other = new_client()
    first = me_login(other)
    assert first.headers["location"].startswith("/me/login/mfa")
    assert other.get("/me", follow_redirects=False).headers["location"] == "/me/login/mfa"
    replay = submit(other, "/me/login/mfa", code=code)
    assert replay.status_code == 401  # the enrolment code is spent
    clock.advance(totp.STEP_S)
    done = submit(other, "/me/login/mfa", code=pyotp.TOTP(secret).at(clock()))
    assert (done.status_code, done.headers["location"]) == (303, "/me")
    assert other.get("/me").status_code == 200


def test_staff_and_customer_sessions_never_cross(
    web, new_client, platform, household, make_staff, clock
):
    accept(web, invite(platform, household.household_id))
    assert web.get("/account", follow_redirects=False).status_code == 403
    assert web.get("/admin/users", follow_redirects=False).status_code == 403
    staff = new_client()
    sign_in(staff, make_staff("admin"), clock)
    assert staff.get("/me", follow_redirects=False).status_code == 403
    assert staff.get("/me/security", follow_redirects=False).status_code == 403


def test_customer_events_are_audited_with_the_household(web, platform, household):
    accept(web, invite(platform, household.household_id))
    web.post("/logout", data={"csrf_token": csrf_of(web.get("/me").text)})
    with platform.sessions() as db:
        events = db.scalars(
            select(audit.AuditEvent).where(
                audit.AuditEvent.action.like("customer.%")
                | audit.AuditEvent.action.like("account.%")
            )
        ).all()
    assert {e.action for e in events} >= {
        "customer.invite",
        "customer.accept_invite",
        "account.logout",
    }
    assert all(e.household_id == household.household_id for e in events)
