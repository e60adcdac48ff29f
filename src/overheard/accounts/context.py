"""Per-app account runtime (settings, keys, clock) and the per-request sign-in state."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, Row, bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..db import transaction, utcnow
from ..errors import ServiceBusy
from . import sessions
from .models import CustomerAccount, SessionKind, StaffUser, WebSession
from .secrets import AccountKeys
from .settings import AccountSettings

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass
class AccountsRuntime:
    """What the account routes share within one app; ``clock`` may be replaced (tests)."""

    platform: Platform
    settings: AccountSettings
    keys: AccountKeys
    clock: Callable[[], datetime] = field(default=utcnow)
    checks: threading.BoundedSemaphore = field(init=False)
    """Free password-check places (``login_max_concurrent_checks``)."""

    def __post_init__(self) -> None:
        self.checks = threading.BoundedSemaphore(self.settings.login_max_concurrent_checks)

    def now(self) -> datetime:
        """The current time as this app sees it."""
        return self.clock()

    @contextmanager
    def password_slot(self) -> Iterator[None]:
        """Hold one password-check place; 503 ``busy`` when none frees up within the queue time."""
        if not self.checks.acquire(timeout=self.settings.login_queue_timeout_s):
            wait = max(1, math.ceil(self.settings.login_queue_timeout_s))
            raise ServiceBusy("too many sign-ins at once; try again shortly", retry_after_s=wait)
        try:
            yield
        finally:
            self.checks.release()


@dataclass(frozen=True)
class RequestAuth:
    """Who a request comes from: the live session (if any) and its account."""

    raw_id: str | None = None
    row: WebSession | None = None
    staff: StaffUser | None = None
    customer: CustomerAccount | None = None

    @property
    def kind(self) -> str | None:
        """``staff``, ``customer`` or None for no session."""
        return self.row.kind if self.row is not None else None

    @property
    def stage(self) -> str | None:
        """How far the session has come through sign-in, or None."""
        return self.row.stage if self.row is not None else None


ANONYMOUS = RequestAuth()


def runtime(request: Request) -> AccountsRuntime:
    """The account runtime of the app serving ``request``."""
    return request.app.state.accounts  # type: ignore[no-any-return]


async def resolve(request: Request, *, activity: bool = True) -> RequestAuth:
    """The sign-in state of ``request``, looked up once and kept on ``request.state``; unless
    ``activity`` is False (a page's script polling), the request holds off the idle timeout."""
    cached: RequestAuth | None = getattr(request.state, "auth", None)
    if cached is not None:
        return cached
    raw_id = request.cookies.get(sessions.COOKIE_NAME)
    auth = ANONYMOUS
    if raw_id:
        auth = await run_in_threadpool(_load, runtime(request), raw_id, activity)
    request.state.auth = auth
    return auth


def _load(rt: AccountsRuntime, raw_id: str, activity: bool = True) -> RequestAuth:
    staff = _staff_at_once(rt, raw_id, activity)
    if staff is not None:
        return staff
    # Most requests need no write (the session is live and was touched recently): read without
    # the write lock, and take it only to touch or delete the session.
    with rt.platform.readers() as db:
        # Held while the look-ups run: a session keeps the rows it loaded only weakly.
        loaded = _prefetch(db, raw_id)
        row = sessions.peek(db, raw_id, settings=rt.settings, now=rt.now(), touch=activity)
        if row is not None and loaded is not None:
            return _account(db, raw_id, row)
    with transaction(rt.platform.sessions) as db:
        row = sessions.load(db, raw_id, settings=rt.settings, now=rt.now(), touch=activity)
        if row is None:
            return ANONYMOUS
        return _account(db, raw_id, row)


_SESSION_AND_STAFF = (
    select(WebSession, StaffUser)
    .outerjoin(StaffUser, StaffUser.id == WebSession.staff_id)
    .where(WebSession.id_hash == bindparam("id_hash"))
)
"""The session row and its staff account (built once: every signed-in request reads it)."""


_SESSIONS = WebSession.__table__.c
_STAFF = StaffUser.__table__.c
_SESSION_KEYS = tuple(column.key for column in _SESSIONS)
_STAFF_KEYS = tuple(column.key for column in _STAFF)
_SESSION_AND_STAFF_ROW = (
    select(*_SESSIONS, *_STAFF)
    .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
    .select_from(WebSession.__table__.outerjoin(StaffUser.__table__, _STAFF.id == _SESSIONS.staff_id))
    .where(_SESSIONS.id_hash == bindparam("id_hash"))
)
"""The session row and its staff account, every column of each, for Core (built once)."""


def _staff_at_once(rt: AccountsRuntime, raw_id: str, activity: bool = True) -> RequestAuth | None:
    """The sign-in state of a staff session that needs no write now, by one Core read on a reader
    connection (no ORM session, no entity loading); None when the session is not one (a customer's,
    unknown, expired or due a touch): then the look-up takes the full way.

    The same row is read and the same checks made as there (``sessions.usable_now``, the account
    not disabled), at every request: nothing is kept between requests, so a session ended or an
    account disabled is refused from the next request on.
    """
    with rt.platform.reader_engine.connect() as connection:
        found = connection.execute(
            _SESSION_AND_STAFF_ROW, {"id_hash": sessions.hash_id(raw_id)}
        ).first()
    if found is None:
        return None
    row = _detached(WebSession, _SESSION_KEYS, found, 0)
    if row.kind != SessionKind.STAFF or row.staff_id is None:
        return None
    if not sessions.usable_now(row, settings=rt.settings, now=rt.now(), touch=activity):
        return None
    staff = _detached(StaffUser, _STAFF_KEYS, found, len(_SESSION_KEYS))
    if staff.id is None or staff.disabled_at is not None:
        return ANONYMOUS
    return RequestAuth(raw_id=raw_id, row=row, staff=staff)


_Model = TypeVar("_Model", WebSession, StaffUser)


def _detached(model: type[_Model], keys: tuple[str, ...], found: Row[Any], start: int) -> _Model:
    """A ``model`` outside any session holding the columns ``keys`` of ``found`` from ``start`` on:
    the values loading it gives (the routes read a request's session and account, never write
    them back)."""
    return model(**dict(zip(keys, found[start : start + len(keys)], strict=True)))


def _prefetch(db: Session, raw_id: str) -> object:
    """One query for the session row and its staff account; the look-ups below find them loaded."""
    return db.execute(_SESSION_AND_STAFF, {"id_hash": sessions.hash_id(raw_id)}).first()


def _account(db: Session, raw_id: str, row: WebSession) -> RequestAuth:
    """The request's sign-in state for the live session ``row``."""
    if row.kind == SessionKind.STAFF and row.staff_id is not None:
        staff = db.get(StaffUser, row.staff_id)
        if staff is None or staff.disabled_at is not None:
            return ANONYMOUS
        return RequestAuth(raw_id=raw_id, row=row, staff=staff)
    customer = db.get(CustomerAccount, row.customer_id) if row.customer_id else None
    if customer is None:
        return ANONYMOUS
    return RequestAuth(raw_id=raw_id, row=row, customer=customer)


def forget(request: Request) -> None:
    """Drop the cached sign-in state (after a route changed it)."""
    request.state.auth = None


def client_address(request: Request) -> str:
    """The connection's address (behind a proxy listed in ``forwarded_allow_ips``: what it forwards)."""
    return request.client.host if request.client is not None else "unknown"
