"""The account pages wired into an app: runtime, Jinja globals, error pages, and the routers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..errors import OverheardError, ServiceBusy, error_body
from . import csrf, sessions
from .context import AccountsRuntime, runtime
from .rbac import NotPermitted, SignInRequired
from .secrets import AccountKeys
from .settings import AccountSettings

GENERIC_FAILURE = "Sign-in failed. Check what you entered and try again."
"""The one message every failed sign-in step shows."""
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

NO_STORE = {"Cache-Control": "no-store"}
"""What every error answer carries: staff routes refuse about clips, and no cache may keep that."""

AUDIO_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Disposition": "inline",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
"""A clip served to staff (the workbench's, a privacy officer's case): played in the page, never a
download, kept by no cache, and a document of nothing should it be opened on its own."""


def install(app: FastAPI, platform: Any) -> None:
    """Give ``app`` the account runtime, the ``csrf_field()`` template global, handlers and routes."""
    from .customer_routes import router as customer_router
    from .staff_routes import router as staff_router

    app.state.accounts = AccountsRuntime(
        platform=platform,
        settings=AccountSettings.from_settings(platform.settings),
        keys=AccountKeys.from_secrets(platform.secrets),
    )
    templates: Jinja2Templates = app.state.templates
    templates.env.globals["csrf_field"] = csrf.csrf_field
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]
    app.add_exception_handler(NotPermitted, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(csrf.CsrfFailed, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceBusy, _busy)  # type: ignore[arg-type]
    app.include_router(staff_router)
    app.include_router(customer_router)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """A page from ``templates/``, with security headers and the pre-session CSRF cookie if new."""
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, context or {}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    pre = getattr(request.state, "new_pre_cookie", None)
    if pre:
        secure = sessions.cookie_secure(request, runtime(request).settings)
        sessions.set_cookie(response, csrf.PRE_COOKIE_NAME, pre, secure=secure)
    return response


def redirect(location: str, *, status_code: int = 303) -> RedirectResponse:
    """A redirect (303 after a form, so the browser follows with GET)."""
    return RedirectResponse(location, status_code=status_code)


def with_session(request: Request, response: Response, raw_id: str) -> Response:
    """``response`` setting the session cookie to ``raw_id``."""
    secure = sessions.cookie_secure(request, runtime(request).settings)
    sessions.set_cookie(response, sessions.COOKIE_NAME, raw_id, secure=secure)
    return response


def without_session(request: Request, response: Response) -> Response:
    """``response`` removing the session cookie."""
    secure = sessions.cookie_secure(request, runtime(request).settings)
    sessions.clear_cookie(response, sessions.COOKIE_NAME, secure=secure)
    return response


def safe_next(value: str | None, default: str) -> str:
    """``value`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ch in value for ch in "\r\n\\"):
        return default
    return value


def wants_html(request: Request) -> bool:
    """True when the client asked for a page rather than JSON."""
    return "text/html" in request.headers.get("accept", "")


ERROR_TITLES = {
    400: "That cannot be done",
    403: "Not allowed",
    404: "Not found",
    405: "Not found",
    409: "Too late",
    410: "Gone",
    413: "Too large",
    422: "That cannot be done",
    429: "Too many attempts",
    503: "Busy",
}
"""The heading of an error page, by HTTP status."""


def error_page(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    title: str | None = None,
) -> Response:
    """An error as a page for a browser (a form post or a typed address), with a way back."""
    auth = getattr(request.state, "auth", None)
    if auth is None:
        from .context import ANONYMOUS

        request.state.auth = auth = ANONYMOUS
    context = {
        "title": title or ERROR_TITLES.get(status, "Something went wrong"),
        "message": message[:1].upper() + message[1:],
        "code": code,
        "back": _way_back(auth),
    }
    response = render(request, "accounts/message.html", context, status_code=status)
    response.headers.update(headers or {})
    return response


def _way_back(auth: Any) -> tuple[str, str]:
    """Where the error page's link leads: the signed-in person's own start page."""
    if auth is not None and auth.row is not None and auth.row.stage == "full":
        if auth.customer is not None:
            return "/me", "Back to your household"
        if auth.staff is not None:
            return "/account", "Back to your account"
    return "/", "Back to the start page"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one JSON error answer (:func:`overheard.errors.error_body`), never kept by a cache (a
    refusal is as private as the answer)."""
    body = error_body(code, message)
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _error_page(request: Request, exc: OverheardError, title: str = "Not allowed") -> Response:
    if not wants_html(request):
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    return error_page(request, exc.status, exc.code, exc.message, exc.headers, title=title)


async def _busy(request: Request, exc: OverheardError) -> Response:
    return _error_page(request, exc, "Busy")


async def _refused(request: Request, exc: OverheardError) -> Response:
    return _error_page(request, exc)


async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
    accept = request.headers.get("accept", "")
    if exc.json_only or ("application/json" in accept and "text/html" not in accept):
        return error_response(exc.status, exc.code, exc.message)
    status = 302 if request.method in ("GET", "HEAD") else 303
    return RedirectResponse(exc.location, status_code=status)
