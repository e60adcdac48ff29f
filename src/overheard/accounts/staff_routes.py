"""Staff pages: enrolment, sign-in with a second factor, the own account page, the user list."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..db import transaction
from ..errors import BadRequest
from . import login, service, sessions, totp
from .context import AccountsRuntime, RequestAuth, client_address, runtime
from .models import Role, SessionKind, StaffUser, Stage
from .passwords import WeakPassword
from .rbac import StaffPrincipal, pending, public, require
from .web import GENERIC_FAILURE, redirect, render, safe_next, with_session, without_session

router = APIRouter(include_in_schema=False)

Anyone = Annotated[RequestAuth, Depends(public())]
AwaitingCode = Annotated[RequestAuth, Depends(pending(SessionKind.STAFF, Stage.PASSWORD))]
Enrolling = Annotated[RequestAuth, Depends(pending(SessionKind.STAFF, Stage.ENROL))]
AnyStaff = Annotated[StaffPrincipal, Depends(require(*Role))]
Admin = Annotated[StaffPrincipal, Depends(require(Role.ADMIN))]
TextField = Annotated[str, Form()]
HOME = "/account"
INVALID_LINK = (
    "This enrolment link is not valid. It may have been used already or have expired. If you "
    "already chose a password, sign in with it to finish setting up your authenticator."
)


def _ctx(request: Request) -> login.LoginContext:
    rt = runtime(request)
    return login.LoginContext(
        rt.keys, rt.settings, client_address(request), rt.now(), rt.password_slot
    )


def _status(outcome: login.Outcome) -> int:
    return 429 if outcome is login.Outcome.THROTTLED else 401


@router.get("/login")
def login_page(request: Request, auth: Anyone, next: str = "") -> Response:
    """The staff sign-in form."""
    return render(request, "accounts/login.html", {"next": next, "who": "staff"})


@router.post("/login")
def login_submit(
    request: Request,
    auth: Anyone,
    username: TextField = "",
    password: TextField = "",
    next: TextField = "",
) -> Response:
    """Check the password; on success continue to the code page with a new session id."""
    ctx, plat = _ctx(request), runtime(request).platform
    outcome, staff = login.staff_password(
        plat.readers, plat.sessions, ctx, username=username, password=password
    )
    raw_id = None
    if staff is not None:
        with transaction(plat.sessions) as db:
            if auth.raw_id is not None:
                sessions.destroy(db, auth.raw_id)
            stage = Stage.PASSWORD if staff.has_totp else Stage.ENROL
            raw_id = sessions.start(
                db, kind=SessionKind.STAFF, stage=stage, now=ctx.now, staff_id=staff.id
            )
    if raw_id is None or staff is None:
        context = {"next": next, "who": "staff", "error": GENERIC_FAILURE, "username": username}
        return render(request, "accounts/login.html", context, status_code=_status(outcome))
    if not staff.has_totp:
        return with_session(request, redirect("/enrol/mfa"), raw_id)
    location = f"/login/mfa?next={quote(safe_next(next, HOME), safe='')}"
    return with_session(request, redirect(location), raw_id)


@router.get("/login/mfa")
def code_page(request: Request, auth: AwaitingCode, next: str = "") -> Response:
    """The second-factor form."""
    return render(request, "accounts/code.html", {"next": next, "action": "/login/mfa"})


@router.post("/login/mfa")
def code_submit(
    request: Request,
    auth: AwaitingCode,
    code: TextField = "",
    next: TextField = "",
) -> Response:
    """Check the code; on success the session gets a new id and full access."""
    ctx = _ctx(request)
    assert auth.row is not None and auth.row.staff_id is not None
    with transaction(runtime(request).platform.sessions) as db:
        outcome = login.staff_code(db, ctx, staff_id=auth.row.staff_id, code=code)
        raw_id = None
        if outcome is login.Outcome.OK:
            raw_id = sessions.rotate(db, auth.row, stage=Stage.FULL, now=ctx.now)
    if raw_id is None:
        context = {"next": next, "action": "/login/mfa", "error": GENERIC_FAILURE}
        return render(request, "accounts/code.html", context, status_code=_status(outcome))
    return with_session(request, redirect(safe_next(next, HOME)), raw_id)


@router.get("/enrol/mfa")
def enrol_code_page(request: Request, auth: Enrolling) -> Response:
    """Set up the authenticator: a QR code, the secret in text, and a field for the first code."""
    return render(request, "accounts/totp_setup.html", _setup_context(request, auth))


def _setup_context(
    request: Request, auth: RequestAuth, error: str | None = None
) -> dict[str, object]:
    rt = runtime(request)
    assert auth.row is not None and auth.row.staff_id is not None
    with transaction(rt.platform.sessions) as db:
        staff = db.get(StaffUser, auth.row.staff_id)
        assert staff is not None
        secret = service.pending_totp_secret(db, staff, rt.keys)
    uri = totp.provisioning_uri(secret, account_name=staff.pseudonym)
    return {
        "qr": totp.qr_svg(uri),
        "uri": uri,
        "secret": totp.grouped(secret),
        "action": "/enrol/mfa",
        "pseudonym": staff.pseudonym,
        "error": error,
    }


@router.post("/enrol/mfa")
def enrol_code_submit(request: Request, auth: Enrolling, code: TextField = "") -> Response:
    """Confirm the authenticator; enrolment is complete and the session gets full access."""
    ctx = _ctx(request)
    assert auth.row is not None and auth.row.staff_id is not None
    with transaction(runtime(request).platform.sessions) as db:
        outcome = login.finish_staff_enrolment(db, ctx, staff_id=auth.row.staff_id, code=code)
        raw_id = None
        if outcome is login.Outcome.OK:
            raw_id = sessions.rotate(db, auth.row, stage=Stage.FULL, now=ctx.now)
    if raw_id is None:
        error = "That code did not match. Enter the code your app shows now."
        context = _setup_context(request, auth, error)
        return render(request, "accounts/totp_setup.html", context, status_code=_status(outcome))
    return with_session(request, redirect(HOME), raw_id)


@router.get("/enrol/{token}")
def enrol_page(request: Request, auth: Anyone, token: str) -> Response:
    """Choose a password, from a one-time enrolment link."""
    rt = runtime(request)
    with transaction(rt.platform.sessions) as db:
        staff = service.staff_for_enrolment(db, token, now=rt.now())
    if staff is None:
        return _invalid_link(request)
    return render(request, "accounts/password.html", _password_context(rt, staff.pseudonym))


def _password_context(
    rt: AccountsRuntime, pseudonym: str, error: str | None = None
) -> dict[str, object]:
    return {
        "title": "Choose your password",
        "intro": f"You sign in as {pseudonym}. This name is shown instead of yours everywhere.",
        "username": pseudonym,
        "min_length": rt.settings.password_min_length,
        "error": error,
    }


def _invalid_link(request: Request) -> Response:
    context = {"title": "Link not valid", "message": INVALID_LINK}
    return render(request, "accounts/message.html", context, status_code=404)


@router.post("/enrol/{token}")
def enrol_submit(
    request: Request,
    auth: Anyone,
    token: str,
    password: TextField = "",
    password_confirm: TextField = "",
) -> Response:
    """Set the password, spend the link, and continue to the authenticator set-up."""
    rt = runtime(request)
    now = rt.now()
    with rt.password_slot(), transaction(rt.platform.sessions) as db:
        staff = service.staff_for_enrolment(db, token, now=now)
        if staff is None:
            return _invalid_link(request)
        error = _password_problem(password, password_confirm)
        try:
            if error is None:
                service.choose_staff_password(db, staff, password, settings=rt.settings)
        except WeakPassword as exc:
            error = exc.message
        if error is not None:
            context = _password_context(rt, staff.pseudonym, error)
            return render(request, "accounts/password.html", context, status_code=422)
        if auth.raw_id is not None:
            sessions.destroy(db, auth.raw_id)
        raw_id = sessions.start(
            db, kind=SessionKind.STAFF, stage=Stage.ENROL, now=now, staff_id=staff.id
        )
    return with_session(request, redirect("/enrol/mfa"), raw_id)


def _password_problem(password: str, confirm: str) -> str | None:
    return None if password == confirm else "The two passwords are not the same."


@router.get("/account")
def account_page(request: Request, me: AnyStaff) -> Response:
    """The own account page: pseudonym, name, role."""
    with runtime(request).platform.sessions() as db:
        staff = db.get(StaffUser, me.id)
    return render(request, "accounts/account.html", {"staff": staff, "me": me})


@router.get("/admin/users")
def users_page(request: Request, me: Admin) -> Response:
    """Every staff user with their name, role and state (admins only)."""
    with runtime(request).platform.sessions() as db:
        users = service.list_staff(db)
    return render(request, "accounts/users.html", {"users": users, "roles": list(Role), "me": me})


@router.post("/admin/users/{staff_id}/disable")
async def disable_user(request: Request, me: Admin, staff_id: str) -> Response:
    """Disable a staff user; their sessions end."""
    await run_in_threadpool(_admin_change, request, me, staff_id, None)
    return redirect("/admin/users")


@router.post("/admin/users/{staff_id}/role")
async def set_user_role(
    request: Request, me: Admin, staff_id: str, role: TextField = ""
) -> Response:
    """Give a staff user another role."""
    await run_in_threadpool(_admin_change, request, me, staff_id, role)
    return redirect("/admin/users")


def _admin_change(request: Request, me: StaffPrincipal, staff_id: str, role: str | None) -> None:
    rt = runtime(request)
    actor = f"staff:{me.pseudonym}"
    with transaction(rt.platform.sessions) as db:
        target = service.get_staff(db, staff_id)
        if target.id == me.id:
            raise BadRequest("change your own account from the command line", code="self_change")
        if role is None:
            service.disable_staff(db, target.id, actor=actor, now=rt.now())
        else:
            service.set_role(db, target.id, role, actor=actor)


@router.post("/logout")
def logout(request: Request, auth: Anyone) -> Response:
    """End the session (its row is deleted) and forget the cookie."""
    rt = runtime(request)
    target = "/me/login" if auth.kind == SessionKind.CUSTOMER else "/login"
    if auth.raw_id is not None:
        with transaction(rt.platform.sessions) as db:
            sessions.destroy(db, auth.raw_id)
            who = _principal_of(auth)
            if who is not None:
                who.record(db, "account.logout", rt.now())
    return without_session(request, redirect(target))


def _principal_of(auth: RequestAuth) -> service.Principal | None:
    if auth.staff is not None:
        return service.staff_principal(auth.staff)
    if auth.customer is not None:
        return service.customer_principal(auth.customer)
    return None
