"""Access requirements, deny by default: every route names exactly who may call it.

Use one of these as a dependency on every route (``Depends(require("lead"))`` …):

* ``public()`` — anyone; unsafe methods still need a CSRF token.
* ``device()`` — a device with a bearer token (the device API; no cookies, so no CSRF).
* ``require(*roles)`` — a staff member with one of ``roles`` who has passed the second factor;
  ``require(*roles, poll=True)`` for a route a page's script asks on a timer (a state route): it
  answers a stranger 401 JSON rather than sending them to sign in, and asking it is not activity
  (it does not hold off the session's idle timeout).
* ``require_customer()`` — a signed-in household owner; gives the household id.
* ``pending(kind, stage)`` — a session part-way through sign-in (the code and enrolment pages).

:func:`unguarded_routes` lists the routes of an app that name none; a test keeps it empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

from ..errors import Forbidden, Unauthorized
from . import csrf
from .context import RequestAuth, resolve
from .models import Role, SessionKind, Stage

STAFF_LOGIN_PATH = "/login"
STAFF_CODE_PATH = "/login/mfa"
STAFF_ENROL_CODE_PATH = "/enrol/mfa"
STAFF_HOME_PATH = "/account"
CUSTOMER_LOGIN_PATH = "/me/login"
CUSTOMER_CODE_PATH = "/me/login/mfa"
CUSTOMER_HOME_PATH = "/me"
FRAMEWORK_PUBLIC_PATHS = frozenset({"/openapi.json"})
"""Routes FastAPI adds itself (the API reference); public by this explicit decision."""
STATIC_MOUNT_PATH = "/static"
"""The stylesheet mount; public by this explicit decision."""


class SignInRequired(Unauthorized):
    """No session good enough for this route; browsers are sent to ``location`` (unless
    ``json_only``: a route a page's script polls answers 401 JSON whatever the request accepts)."""

    code = "sign_in_required"

    def __init__(self, location: str, *, json_only: bool = False) -> None:
        super().__init__("sign in to continue")
        self.location = location
        self.json_only = json_only


class NotPermitted(Forbidden):
    """Signed in, but this route is not for this account."""

    code = "forbidden"


@dataclass(frozen=True)
class Policy:
    """What a requirement admits, in a form a test can read off a route."""

    kind: str
    """``public``, ``device``, ``staff``, ``customer`` or ``pending``."""
    roles: frozenset[str] = frozenset()
    """Staff roles admitted (``staff`` only)."""
    session: str | None = None
    """Session kind admitted (``pending`` only)."""
    stage: str | None = None
    """Sign-in stage admitted (``pending`` only)."""
    poll: bool = False
    """A route a page's script asks on a timer: a stranger gets 401 JSON, never the sign-in page,
    and the request does not count as activity for the idle timeout (``staff`` only)."""


@dataclass(frozen=True)
class StaffPrincipal:
    """A staff member fully signed in."""

    id: str
    pseudonym: str
    role: Role


@dataclass(frozen=True)
class CustomerPrincipal:
    """A household owner fully signed in; everything they reach is scoped to ``household_id``."""

    account_id: str
    household_id: str


class Requirement:
    """Base of every requirement; FastAPI calls instances as dependencies."""

    policy: Policy


class _Public(Requirement):
    policy = Policy("public")

    async def __call__(self, request: Request) -> RequestAuth:
        auth = await resolve(request)
        await csrf.protect(request)
        return auth


class _Device(Requirement):
    policy = Policy("device")

    async def __call__(self, request: Request) -> None:
        # The route's own dependency checks the token; this refuses early when there is none. The
        # header is read off the request, not declared: no parameter to resolve on every upload.
        scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("a device token is required: Authorization: Bearer <token>")


class _Staff(Requirement):
    def __init__(self, roles: frozenset[Role], poll: bool = False) -> None:
        self.policy = Policy("staff", frozenset(r.value for r in roles), poll=poll)

    async def __call__(self, request: Request) -> StaffPrincipal:
        auth = await resolve(request, activity=not self.policy.poll)
        await csrf.protect(request)
        try:
            _send_to_sign_in(request, auth, SessionKind.STAFF)
        except SignInRequired as exc:
            exc.json_only = self.policy.poll
            raise
        staff = auth.staff
        if staff is None or staff.role not in self.policy.roles:
            raise NotPermitted("your role does not give access to this page")
        return StaffPrincipal(id=staff.id, pseudonym=staff.pseudonym, role=Role(staff.role))


class _Customer(Requirement):
    policy = Policy("customer")

    async def __call__(self, request: Request) -> CustomerPrincipal:
        auth = await resolve(request)
        await csrf.protect(request)
        _send_to_sign_in(request, auth, SessionKind.CUSTOMER)
        if auth.customer is None:
            raise NotPermitted("this page is for the household's owner")
        return CustomerPrincipal(
            account_id=auth.customer.id, household_id=auth.customer.household_id
        )


class _Pending(Requirement):
    def __init__(self, kind: SessionKind, stage: Stage) -> None:
        self.policy = Policy("pending", session=kind.value, stage=stage.value)

    async def __call__(self, request: Request) -> RequestAuth:
        auth = await resolve(request)
        await csrf.protect(request)
        kind = self.policy.session or ""
        if auth.row is None:
            raise SignInRequired(_login_path(kind))
        if auth.kind != kind:
            raise NotPermitted("this page is part of another kind of sign-in")
        if auth.stage != self.policy.stage:
            raise SignInRequired(_next_page(kind, auth.stage))
        return auth


def public() -> Requirement:
    """Anyone may call the route (CSRF still applies to unsafe methods)."""
    return _Public()


def device() -> Requirement:
    """The route authenticates a device by its bearer token."""
    return _Device()


def require(*roles: Role | str, poll: bool = False) -> Requirement:
    """Staff with one of ``roles``, past the second factor; others get 403, strangers a sign-in
    (with ``poll``, a 401 JSON answer instead, and the request leaves the idle timeout running:
    the route is a page's script asking on a timer, not the person at work)."""
    if not roles:
        raise ValueError("require() needs at least one role")
    return _Staff(frozenset(Role(r) for r in roles), poll)


def require_customer() -> Requirement:
    """A fully signed-in household owner; the dependency's value carries the household id."""
    return _Customer()


def pending(kind: SessionKind, stage: Stage) -> Requirement:
    """A session of ``kind`` waiting at ``stage`` (the second-factor and enrolment pages)."""
    return _Pending(kind, stage)


def _login_path(kind: str) -> str:
    return STAFF_LOGIN_PATH if kind == SessionKind.STAFF else CUSTOMER_LOGIN_PATH


def _next_page(kind: str, stage: str | None) -> str:
    if kind == SessionKind.CUSTOMER:
        return CUSTOMER_CODE_PATH if stage == Stage.PASSWORD else CUSTOMER_HOME_PATH
    pages = {Stage.PASSWORD.value: STAFF_CODE_PATH, Stage.ENROL.value: STAFF_ENROL_CODE_PATH}
    return pages.get(stage or "", STAFF_HOME_PATH)


def _send_to_sign_in(request: Request, auth: RequestAuth, kind: SessionKind) -> None:
    if auth.row is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(f"{_login_path(kind)}?next={quote(target, safe='')}")
    if auth.kind == kind and auth.stage != Stage.FULL:
        raise SignInRequired(_next_page(kind, auth.stage))


def policies_of(dependant: Dependant) -> list[Policy]:
    """Every requirement a route's dependency tree declares."""
    return [call.policy for call in _calls(dependant) if isinstance(call, Requirement)]


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def routes_of(app: FastAPI) -> Iterator[tuple[BaseRoute, Dependant | None]]:
    """Every route of ``app`` as served (included routers opened), with its effective dependencies."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept whole
        for route in app.routes:
            yield route, route.dependant if isinstance(route, APIRoute) else None
        return
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        yield (original, context.dependant) if isinstance(original, APIRoute) else (original, None)


def describe(route: BaseRoute) -> str:
    """``['GET'] /path`` for a route."""
    methods = sorted(getattr(route, "methods", None) or [])
    return f"{methods} {getattr(route, 'path', type(route).__name__)}"


def unguarded_routes(app: FastAPI) -> list[str]:
    """Routes of ``app`` that declare no requirement, or mix ``public()`` with another one."""
    bad = []
    for route, dependant in routes_of(app):
        if dependant is not None:
            kinds = {p.kind for p in policies_of(dependant)}
            if not kinds or ("public" in kinds and len(kinds) > 1):
                bad.append(describe(route))
        elif isinstance(route, Mount) and route.path == STATIC_MOUNT_PATH:
            continue
        elif getattr(route, "path", None) not in FRAMEWORK_PUBLIC_PATHS:
            bad.append(describe(route))
    return bad
