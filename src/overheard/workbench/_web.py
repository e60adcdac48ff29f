"""What the workbench routes share: who may call them, the clock, pages with a script policy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ..accounts.context import runtime
from ..accounts.models import Role
from ..accounts.rbac import StaffPrincipal, require
from ..accounts.web import render
from ..platform import Platform
from .audio_urls import AudioUrls

Reviewer = Annotated[StaffPrincipal, Depends(require(Role.ANNOTATOR, Role.LEAD))]
"""Staff who annotate clips (leads may take tasks too)."""
Lead = Annotated[StaffPrincipal, Depends(require(Role.LEAD))]
"""Staff who adjudicate and hear clips of disagreements."""
LeadPoll = Annotated[StaffPrincipal, Depends(require(Role.LEAD, poll=True))]
"""A lead's page asking its state route: a stranger gets 401 JSON, and the poll is not activity."""
Overseer = Annotated[
    StaffPrincipal, Depends(require(Role.LEAD, Role.ADMIN, Role.PRIVACY_OFFICER))
]
"""Staff who see queue figures and sampling settings (no content)."""

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The account pages' policy plus our own script, its fetches, and audio from a blob URL."""


def platform_of(request: Request) -> Platform:
    """The platform behind the app."""
    return request.app.state.platform  # type: ignore[no-any-return]


def audio_urls(request: Request) -> AudioUrls:
    """The app's audio URL minter."""
    return request.app.state.workbench_audio  # type: ignore[no-any-return]


def now_of(request: Request) -> datetime:
    """The current time as the app's clock sees it (settable in tests)."""
    return runtime(request).now()


def session_id(request: Request) -> str:
    """The raw id of the request's session (every workbench route runs behind a signed-in one)."""
    raw = request.state.auth.raw_id
    assert raw is not None
    return str(raw)


def page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """A workbench page: the account pages' headers, with our script allowed."""
    response = render(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response
