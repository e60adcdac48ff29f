"""Cross-site request forgery: every unsafe request carries a token bound to its session.

The token is ``HMAC(key, binding)``: the binding is the session id when there is a live session,
and otherwise a random pre-session cookie (so sign-in and enrolment forms are protected too).
Nothing is stored; a new session id gives new tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from jinja2 import pass_context
from markupsafe import Markup
from starlette.requests import Request

from ..errors import Forbidden
from .context import RequestAuth, runtime
from .secrets import AccountKeys

FIELD_NAME = "csrf_token"
HEADER_NAME = "x-csrf-token"
PRE_COOKIE_NAME = "overheard_csrf"
PRE_COOKIE_BYTES = 32
"""Random bytes in a pre-session cookie."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfFailed(Forbidden):
    """An unsafe request without a valid token for its session."""

    code = "csrf_failed"


def token_for(keys: AccountKeys, binding: str) -> str:
    """The token that goes with ``binding``."""
    mac = hmac.new(keys.csrf.reveal(), binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def matches(keys: AccountKeys, binding: str, given: str) -> bool:
    """Constant-time check of a submitted token."""
    return hmac.compare_digest(token_for(keys, binding).encode(), given.encode())


def binding(request: Request) -> str:
    """What this request's token is bound to; a new pre-session cookie is made when there is none."""
    auth: RequestAuth | None = getattr(request.state, "auth", None)
    if auth is None:
        raise RuntimeError("CSRF token asked for on a route without an access requirement")
    if auth.raw_id is not None:
        return f"session:{auth.raw_id}"
    pre = request.cookies.get(PRE_COOKIE_NAME) or getattr(request.state, "new_pre_cookie", None)
    if not pre:
        pre = secrets.token_urlsafe(PRE_COOKIE_BYTES)
        request.state.new_pre_cookie = pre
    return f"pre:{pre}"


def token(request: Request) -> str:
    """The token forms on this page must carry."""
    return token_for(runtime(request).keys, binding(request))


async def submitted(request: Request) -> str:
    """The token a request carries: the ``X-CSRF-Token`` header or the form field."""
    header = request.headers.get(HEADER_NAME)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(FIELD_NAME)
        return value if isinstance(value, str) else ""
    return ""


async def protect(request: Request) -> None:
    """Refuse an unsafe request whose token does not match its session (403 ``csrf_failed``)."""
    if request.method not in UNSAFE_METHODS:
        return
    given = await submitted(request)
    if not given or not matches(runtime(request).keys, binding(request), given):
        raise CsrfFailed("this form has expired or did not come from this site; reload and retry")


@pass_context
def csrf_field(context: Any) -> Markup:
    """Jinja global: the hidden input every POST form includes."""
    value = token(context["request"])
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD_NAME, value)
