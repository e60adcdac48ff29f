"""Fixtures for account tests: a settable clock, an https client on it, enrolled staff and customers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient

from overheard.accounts import service, totp
from overheard.accounts.models import StaffUser
from overheard.accounts.service import staff_principal
from overheard.accounts.settings import AccountSettings
from overheard.db import transaction
from overheard.web import create_app

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
PASSWORD = "violet harbour lantern 42"
CHEAP_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}
"""Real argon2id, at a cost that keeps the suite quick (production defaults are far higher)."""
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class StaffLogin:
    """What a test needs to sign an enrolled staff user in."""

    id: str
    pseudonym: str
    role: str
    password: str
    secret: str


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(
    platform, clock: Clock, base_url: str = "https://testserver", address: str = "192.0.2.1"
) -> TestClient:
    app = create_app(platform, run_workers=False)
    app.state.accounts.clock = clock
    app.state.accounts.settings = test_settings(platform)
    return TestClient(app, base_url=base_url, client=(address, 50000))


def tune(client: TestClient, **changes: object) -> AccountSettings:
    """Change account settings of ``client``'s app; returns the new settings."""
    runtime = client.app.state.accounts
    runtime.settings = replace(runtime.settings, **changes)
    return runtime.settings


@pytest.fixture
def web(platform, clock) -> Iterator[TestClient]:
    """An https client on the real app, its account clock set to ``clock``."""
    with make_client(platform, clock) as client:
        yield client


@pytest.fixture
def new_client(platform, clock) -> Iterator[Callable[..., TestClient]]:
    """Factory for further clients (other browsers) on the same platform and clock."""
    made: list[TestClient] = []

    def make(base_url: str = "https://testserver", address: str = "192.0.2.2") -> TestClient:
        client = make_client(platform, clock, base_url, address)
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def make_staff(platform, clock) -> Callable[..., StaffLogin]:
    """Factory: a fully enrolled staff user (password set, authenticator confirmed a minute ago)."""

    def make(role: str = "annotator", name: str = "Grace Hopper") -> StaffLogin:
        earlier = clock() - timedelta(seconds=60)
        with transaction(platform.sessions) as db:
            staff, _token = service.create_staff(db, name=name, role=role, now=earlier)
            settings = test_settings(platform)
            service.choose_staff_password(db, staff, PASSWORD, settings=settings)
            keys = account_keys(platform)
            secret = service.pending_totp_secret(db, staff, keys)
            code = pyotp.TOTP(secret).at(earlier)
            assert service.confirm_totp(
                db, staff, code, keys=keys, who=staff_principal(staff), now=earlier
            )
        return StaffLogin(staff.id, staff.pseudonym, role, PASSWORD, secret)

    return make


def test_settings(platform) -> AccountSettings:
    """The platform's account settings with cheap hashing."""
    return replace(AccountSettings.from_settings(platform.settings), **CHEAP_HASHING)


def account_keys(platform):
    from overheard.accounts.secrets import AccountKeys

    return AccountKeys.from_secrets(platform.secrets)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def submit(client: TestClient, page: str, action: str | None = None, **fields: str):
    """GET ``page``, then POST its form (with the page's CSRF token) to ``action``."""
    shown = client.get(page, follow_redirects=False)
    assert shown.status_code == 200, (page, shown.status_code, shown.text[:300])
    data = {**fields, "csrf_token": csrf_of(shown.text)}
    return client.post(action or page, data=data, follow_redirects=False)


def password_step(client: TestClient, user: StaffLogin, password: str | None = None):
    """Submit the staff sign-in form."""
    return submit(client, "/login", username=user.pseudonym, password=password or user.password)


def code_step(client: TestClient, user: StaffLogin, clock: Clock, code: str | None = None):
    """Submit the second-factor form with the code for ``clock``'s time."""
    return submit(client, "/login/mfa", code=code or pyotp.TOTP(user.secret).at(clock()))


def sign_in(client: TestClient, user: StaffLogin, clock: Clock) -> None:
    """Both steps; moves the clock on a step first so no code is reused."""
    clock.advance(totp.STEP_S)
    first = password_step(client, user)
    assert first.status_code == 303, first.text
    second = code_step(client, user, clock)
    assert second.status_code == 303, second.text


@pytest.fixture
def signed_in(web, make_staff, clock) -> Callable[[str], StaffLogin]:
    """Factory: sign ``web`` in as a new staff user of ``role``."""

    def make(role: str) -> StaffLogin:
        user = make_staff(role)
        sign_in(web, user, clock)
        return user

    return make


def staff_row(platform, staff_id: str) -> StaffUser:
    with platform.sessions() as db:
        row = db.get(StaffUser, staff_id)
        assert row is not None
        return row


def invite(platform, household_id: str) -> str:
    with transaction(platform.sessions) as db:
        return service.invite_customer(db, household_id)
