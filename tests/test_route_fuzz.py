"""Every route, HTML and form ones included, answers extreme parameters with a 4xx, never a 5xx.

Each route is called as a principal it admits (so the values reach the handler), one parameter at a
time, with a fixed table of extreme integers, dates and strings; the others keep a plain value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from overheard.accounts import csrf, service
from overheard.accounts.rbac import policies_of, routes_of
from overheard.accounts.secrets import AccountKeys
from overheard.db import transaction
from overheard.review import hooks as review_hooks
from tests.accounts.conftest import (  # noqa: F401 (clock and make_staff are fixtures)
    PASSWORD,
    clock,
    make_client,
    make_staff,
    password_step,
    sign_in,
    submit,
)
from tests.conftest import tone_wav
from tests.customer.conftest import sign_up

EXTREMES = (
    "",
    "0",
    "-1",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999",
    "-99999999999999999999",
    "1e308",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30",
    "x" * 5000,
    "nul\x00byte",
    "\u202e\ufeff\U0001f600",
    "../../etc/passwd",
    "'; DROP TABLE staff_users; --",
    "<script>alert(1)</script>",
)
"""Values every parameter is tried with."""
PLAIN = "1"
"""What the parameters not under test are given."""
SKIPPED = {("POST", "/logout")}
"""Routes whose effect would end the principal's session (and which take no parameters)."""


@dataclass
class Principals:
    """One client per kind of caller, each signed in as far as its routes need."""

    anonymous: TestClient
    customer: TestClient
    staff: dict[str, TestClient]
    awaiting_code: TestClient
    enrolling: TestClient
    device_token: str

    def for_policy(self, kind: str, roles: frozenset[str], stage: str | None) -> TestClient:
        """The client a route with this requirement admits."""
        if kind == "customer":
            return self.customer
        if kind == "staff":
            return self.staff[sorted(roles)[0]]
        if kind == "pending":
            return self.enrolling if stage == "enrol" else self.awaiting_code
        return self.anonymous


@pytest.fixture(autouse=True)
def _review_hook() -> None:
    review_hooks.register()


@pytest.fixture
def principals(platform, make_household, make_staff, clock) -> Iterator[Principals]:  # noqa: F811
    made_staff = make_staff
    household = make_household()
    clients: list[TestClient] = []

    def client(address: str) -> TestClient:
        c = make_client(platform, clock, address=address)
        c.__enter__()
        clients.append(c)
        return c

    customer = sign_up(platform, clock, household.household_id, address="192.0.2.10")
    clients.append(customer)
    staff = {}
    for i, role in enumerate(("admin", "annotator", "lead", "privacy_officer")):
        staff[role] = client(f"192.0.2.{20 + i}")
        sign_in(staff[role], made_staff(role), clock)
    awaiting = client("192.0.2.30")
    assert password_step(awaiting, made_staff("annotator")).status_code == 303
    enrolling = client("192.0.2.31")
    with transaction(platform.sessions) as db:
        _, token = service.create_staff(
            db, name="New Hire", role="annotator", now=clock() - timedelta(seconds=5)
        )
    done = submit(enrolling, f"/enrol/{token}", password=PASSWORD, password_confirm=PASSWORD)
    assert done.status_code == 303, done.text
    anonymous = client("192.0.2.40")
    anonymous.get("/login")
    yield Principals(anonymous, customer, staff, awaiting, enrolling, household.device_token)
    for c in clients:
        c.__exit__(None, None, None)


def _csrf(client: TestClient) -> str:
    keys = AccountKeys.from_secrets(client.app.state.platform.secrets)
    raw = client.cookies.get("overheard_session")
    binding = f"session:{raw}" if raw else f"pre:{client.cookies.get(csrf.PRE_COOKIE_NAME)}"
    return csrf.token_for(keys, binding)


@dataclass(frozen=True)
class Call:
    """One request to make: method, path, query, form or JSON body, headers."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str] | None
    json: dict[str, object] | None
    headers: dict[str, str]
    label: str


def _calls_for(route, dep) -> Iterator[Call]:  # type: ignore[no-untyped-def]
    """Each parameter of ``route`` set to each extreme value in turn."""
    path_names = [p.name for p in dep.path_params]
    query_names = [p.name for p in dep.query_params]
    header_names = [p.alias for p in dep.header_params]
    form_names: list[str] = []
    model: type[BaseModel] | None = None
    for p in dep.body_params:
        ann = p.field_info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            form_names.append(p.alias)
    json_names = list(model.model_fields) if model is not None else []
    targets = (
        [("path", n) for n in path_names]
        + [("query", n) for n in query_names]
        + [("header", n) for n in header_names]
        + [("form", n) for n in form_names]
        + [("json", n) for n in json_names]
    )
    for method in sorted(route.methods):
        for where, name in [*targets, ("all", "*")] if len(targets) > 1 else targets:
            for value in EXTREMES:
                yield _one_call(method, route.path, targets, where, name, value)


def _one_call(method, template, targets, where, name, value) -> Call:  # type: ignore[no-untyped-def]
    def pick(kind: str, n: str) -> str:
        return value if (kind, n) == (where, name) or where == "all" else PLAIN

    path = template
    for kind, n in targets:
        if kind == "path":
            path = path.replace("{" + n + "}", quote(pick(kind, n), safe=""))
    query = {n: pick(k, n) for k, n in targets if k == "query"}
    headers = {n: pick(k, n) for k, n in targets if k == "header" and where in (k, "all")}
    form = {n: pick(k, n) for k, n in targets if k == "form"}
    body = {n: pick(k, n) for k, n in targets if k == "json"}
    return Call(
        method, path, query, form if method == "POST" and not body else None,
        body or None, headers, f"{method} {template} {where}:{name}={value[:40]!r}",
    )


def _send(client: TestClient, call: Call, device_token: str):  # type: ignore[no-untyped-def]
    headers: dict[str, str | bytes] = {k: v.encode() for k, v in call.headers.items()}
    if call.path.startswith("/api/"):
        headers["Authorization"] = f"Bearer {device_token}"
    if call.method == "POST":
        headers["X-CSRF-Token"] = _csrf(client)
    content = tone_wav(0.2) if call.path == "/api/v1/utterances" else None
    return client.request(
        call.method, call.path, params=call.query, data=call.form, json=call.json,
        headers=headers, content=content, follow_redirects=False,
    )


def _problem(response) -> str | None:  # type: ignore[no-untyped-def]
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:120]!r}"
    if response.status_code >= 400:
        kind = response.headers.get("content-type", "")
        if kind.startswith("application/json"):
            err = response.json().get("error", {})
            if not (isinstance(err, dict) and err.get("code") and err.get("message")):
                return f"{response.status_code} without the error shape: {response.text[:120]!r}"
        elif not kind.startswith("text/html"):
            return f"{response.status_code} as {kind!r}"
    return None


def test_no_route_answers_extreme_parameters_with_a_server_error(platform, principals):
    app = principals.anonymous.app
    problems, sent = [], 0
    for route, dep in routes_of(app):
        if dep is None or (route.path.startswith(("/openapi", "/docs", "/redoc"))):
            continue
        policy = policies_of(dep)[0]
        client = principals.for_policy(policy.kind, policy.roles, policy.stage)
        for call in _calls_for(route, dep):
            if (call.method, route.path) in SKIPPED:
                continue
            client.app.state.accounts.clock.advance(1)
            try:
                problem = _problem(_send(client, call, principals.device_token))
            except Exception as exc:  # the test client re-raises what the app did not handle
                problem = f"raised {type(exc).__name__}: {str(exc)[:120]}"
            sent += 1
            if problem:
                problems.append(f"{call.label}: {problem}")
    assert sent > 500
    assert not problems, "\n".join(problems)
