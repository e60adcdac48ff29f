"""Every staff route x every role, a stranger and a half-signed-in session -> 200/302/303/403
(401 on a route only scripts call)."""

from __future__ import annotations

import re

import pytest

from overheard.accounts.models import Role
from overheard.accounts.rbac import policies_of, routes_of
from tests.accounts.conftest import csrf_of, password_step, sign_in

IDENTITIES = ["anonymous", "half_signed_in", *[r.value for r in Role]]
ALL_ROLES = {r.value for r in Role}
# (method, path, roles admitted); a test below fails when a staff route is missing here.
MATRIX = [
    ("GET", "/account", ALL_ROLES),
    ("GET", "/admin/users", {"admin"}),
    ("POST", "/admin/users/{staff_id}/disable", {"admin"}),
    ("POST", "/admin/users/{staff_id}/role", {"admin"}),
]
PARAM_RE = re.compile(r"\{[^}]+\}")


def staff_routes(app) -> list[tuple[str, str, frozenset[str]]]:
    found = []
    for route, dep in routes_of(app):
        staff = [p for p in policies_of(dep) if p.kind == "staff"] if dep is not None else []
        for method in getattr(route, "methods", ()) if staff else ():
            roles = frozenset.intersection(*(p.roles for p in staff))
            found.append((method, route.path, roles))
    return found


def as_identity(web, identity, make_staff, clock) -> str:
    """Bring ``web`` into ``identity``; the CSRF token its pages carry."""
    if identity == "anonymous":
        return csrf_of(web.get("/login").text)
    if identity == "half_signed_in":
        password_step(web, make_staff("admin"))
        return csrf_of(web.get("/login/mfa").text)
    sign_in(web, make_staff(identity), clock)
    return csrf_of(web.get("/account").text)


def script_only(app) -> set[str]:
    """Paths of the routes only a page's script calls (``require(..., poll=True)``)."""
    return {route.path for route, dep in routes_of(app)
            if dep is not None and any(p.poll for p in policies_of(dep))}


def expected(
    identity: str, method: str, roles: set[str] | frozenset[str], poll: bool = False
) -> tuple[int, str | None]:
    if poll and identity in ("anonymous", "half_signed_in"):
        return 401, None
    redirect = 302 if method == "GET" else 303
    if identity == "anonymous":
        return redirect, "/login?next="
    if identity == "half_signed_in":
        return redirect, "/login/mfa"
    if identity not in roles:
        return 403, None
    return (200 if method == "GET" else 303), None


def call(web, method, path, token):
    if method == "GET":
        return web.get(path, follow_redirects=False)
    return web.post(path, data={"csrf_token": token, "role": "lead"}, follow_redirects=False)


def test_matrix_covers_every_staff_route_of_the_accounts_pages(web):
    mine = {(m, p) for m, p, _ in MATRIX}
    declared = {(m, p): roles for m, p, roles in staff_routes(web.app)}
    assert mine <= set(declared)
    assert all(declared[(m, p)] == frozenset(r) for m, p, r in MATRIX)
    account_paths = [k for k in declared if k[1].startswith(("/account", "/admin/users"))]
    assert set(account_paths) <= mine


@pytest.mark.parametrize("identity", IDENTITIES)
def test_role_matrix(web, make_staff, clock, identity):
    token = as_identity(web, identity, make_staff, clock)
    for method, template, roles in MATRIX:
        victim = make_staff("annotator", name="Victim")
        path = template.replace("{staff_id}", victim.id)
        resp = call(web, method, path, token)
        status, location = expected(identity, method, roles)
        assert resp.status_code == status, (identity, method, path, resp.text[:200])
        if location is not None:
            assert resp.headers["location"].startswith(location)


@pytest.mark.parametrize("identity", IDENTITIES)
def test_every_staff_route_of_the_app_refuses_whom_it_should(web, make_staff, clock, identity):
    """Routes of any area: the requirement decides before the handler runs."""
    token = as_identity(web, identity, make_staff, clock)
    scripts = script_only(web.app)
    for method, template, roles in staff_routes(web.app):
        path = PARAM_RE.sub("x", template)
        resp = call(web, method, path, token)
        status, location = expected(identity, method, roles, template in scripts)
        if status in (401, 403) or location is not None:
            assert resp.status_code == status, (identity, method, path)
        else:
            assert resp.status_code not in (302, 401, 403), (identity, method, path)
