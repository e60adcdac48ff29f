"""Staff enrolment end to end: link -> password -> authenticator (QR + text) -> signed in."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pyotp
import segno
from sqlalchemy import select

from overheard import audit
from overheard.accounts import service, totp
from overheard.accounts.models import StaffUser, WebSession
from overheard.db import transaction
from tests.accounts.conftest import PASSWORD, csrf_of, submit

SVG_PATH_RE = re.compile(r'class="qrline"[^>]* d="([^"]+)"')


def new_staff(platform, clock, role: str = "lead") -> tuple[StaffUser, str]:
    with transaction(platform.sessions) as db:
        return service.create_staff(db, name="Ada Lovelace", role=role, now=clock())


def enrol_password(web, token: str, password: str = PASSWORD, confirm: str | None = None):
    return submit(web, f"/enrol/{token}", password=password, password_confirm=confirm or password)


def setup_page_secret(page_html: str) -> tuple[str, str]:
    """The secret shown in text and the one inside the otpauth link."""
    text = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page_html)
    link = re.search(r'id="otpauth-link" href="([^"]+)"', page_html)
    assert text and link
    return text.group(1).replace(" ", ""), html.unescape(link.group(1))


def test_enrolment_end_to_end(web, platform, clock):
    staff, token = new_staff(platform, clock)
    page = web.get(f"/enrol/{token}")
    assert page.status_code == 200 and staff.pseudonym in page.text
    chosen = enrol_password(web, token)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/enrol/mfa"

    setup = web.get("/enrol/mfa")
    assert setup.status_code == 200
    secret, uri = setup_page_secret(setup.text)
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.name == staff.pseudonym
    assert parsed.issuer == totp.ISSUER
    # The QR code drawn on the page is the one of exactly this URI.
    drawn = SVG_PATH_RE.search(setup.text)
    expected = SVG_PATH_RE.search(segno.make(uri, error="m").svg_inline(scale=totp.QR_SCALE))
    assert drawn and expected and drawn.group(1) == expected.group(1)

    # Until the code is confirmed, staff pages send the session back to the set-up page.
    early = web.get("/account", follow_redirects=False)
    assert (early.status_code, early.headers["location"]) == (302, "/enrol/mfa")

    done = web.post(
        "/enrol/mfa",
        data={"code": pyotp.TOTP(secret).at(clock()), "csrf_token": csrf_of(setup.text)},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/account")
    account = web.get("/account")
    assert account.status_code == 200
    assert "Ada Lovelace" in account.text and staff.pseudonym in account.text
    with platform.sessions() as db:
        row = db.get(StaffUser, staff.id)
        assert row.has_totp and row.enrol_token_hash is None
        assert secret.encode() not in row.totp_sealed
        actions = db.scalars(select(audit.AuditEvent.action)).all()
        assert {"staff.create", "account.mfa_enrol", "account.login"} <= set(actions)
        assert audit.verify_chain(db).ok


def test_enrolment_link_is_one_time(web, new_client, platform, clock):
    _staff, token = new_staff(platform, clock)
    assert enrol_password(web, token).status_code == 303
    other = new_client()
    assert other.get(f"/enrol/{token}").status_code == 404


def test_enrolment_link_expires(web, platform, clock):
    _staff, token = new_staff(platform, clock)
    clock.advance(service.ENROLMENT_TOKEN_TTL_S + 1)
    page = web.get(f"/enrol/{token}")
    assert page.status_code == 404 and "not valid" in page.text
    assert web.get("/enrol/not-a-token").status_code == 404


def test_weak_and_mismatched_passwords_are_refused(web, platform, clock):
    staff, token = new_staff(platform, clock)
    for password, confirm in [
        ("short pass", None),
        ("password1234", None),
        ("Password!2026", None),
        ("Ada Lovelace1", None),
        (PASSWORD, PASSWORD + "x"),
    ]:
        resp = enrol_password(web, token, password, confirm)
        assert resp.status_code == 422, password
        assert 'role="alert"' in resp.text
    with platform.sessions() as db:
        assert db.get(StaffUser, staff.id).password_hash is None


def test_wrong_code_at_enrolment_keeps_the_session_waiting(web, platform, clock):
    _staff, token = new_staff(platform, clock)
    enrol_password(web, token)
    setup = web.get("/enrol/mfa")
    secret, _uri = setup_page_secret(setup.text)
    wrong = str((int(pyotp.TOTP(secret).at(clock())) + 1) % 1_000_000).zfill(6)
    resp = submit(web, "/enrol/mfa", code=wrong)
    assert resp.status_code == 401
    # The same secret is offered again (reloading does not change the QR code).
    assert setup_page_secret(resp.text)[0] == secret
    assert web.get("/account", follow_redirects=False).status_code == 302


def test_reissued_enrolment_clears_credentials_and_sessions(web, platform, clock, make_staff):
    from tests.accounts.conftest import sign_in

    user = make_staff("annotator")
    sign_in(web, user, clock)
    with transaction(platform.sessions) as db:
        _staff, token = service.reissue_enrolment(db, user.id, now=clock())
    assert web.get("/account", follow_redirects=False).status_code == 302
    with platform.sessions() as db:
        row = db.get(StaffUser, user.id)
        assert row.password_hash is None and not row.has_totp
        assert db.scalars(select(WebSession)).all() == []
    assert web.get(f"/enrol/{token}").status_code == 200
    clock.advance(timedelta(days=4).total_seconds())
    assert web.get(f"/enrol/{token}").status_code == 404


def test_signing_out_of_the_set_up_page_strands_no_one(web, new_client, platform, clock):
    staff, token = new_staff(platform, clock)
    assert enrol_password(web, token).status_code == 303
    setup = web.get("/enrol/mfa")
    out = web.post("/logout", data={"csrf_token": csrf_of(setup.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert web.get("/enrol/mfa", follow_redirects=False).status_code == 302  # session gone
    # Signing in with the chosen password resumes the set-up, from any browser.
    later = new_client(address="198.51.100.30")
    resumed = submit(later, "/login", username=staff.pseudonym, password=PASSWORD)
    assert (resumed.status_code, resumed.headers["location"]) == (303, "/enrol/mfa")
    page = later.get("/enrol/mfa")
    secret, _ = setup_page_secret(page.text)
    done = later.post(
        "/enrol/mfa",
        data={"code": pyotp.TOTP(secret).at(clock()), "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/account")
    assert later.get("/account").status_code == 200


def test_unfinished_enrolment_cannot_be_resumed_after_its_deadline(web, platform, clock):
    staff, token = new_staff(platform, clock)
    assert enrol_password(web, token).status_code == 303
    clock.advance(service.ENROLMENT_TOKEN_TTL_S + 1)
    late = submit(web, "/login", username=staff.pseudonym, password=PASSWORD)
    assert late.status_code == 401
