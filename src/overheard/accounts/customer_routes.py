"""Customer pages: accepting an invitation, signing in by e-mail, TOTP (``/me`` is the dashboard in ``overheard.customer``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ..db import transaction
from . import login, service, sessions, totp
from .context import RequestAuth, client_address, runtime
from .models import CustomerAccount, SessionKind, Stage
from .passwords import WeakPassword
from .rbac import CustomerPrincipal, pending, public, require_customer
from .web import GENERIC_FAILURE, redirect, render, safe_next, with_session

router = APIRouter(include_in_schema=False)

Anyone = Annotated[RequestAuth, Depends(public())]
AwaitingCode = Annotated[RequestAuth, Depends(pending(SessionKind.CUSTOMER, Stage.PASSWORD))]
Customer = Annotated[CustomerPrincipal, Depends(require_customer())]
TextField = Annotated[str, Form()]
HOME = "/me"
INVALID_INVITE = "This invitation is not valid. It may have been used already or have expired."


def _ctx(request: Request) -> login.LoginContext:
    rt = runtime(request)
    return login.LoginContext(
        rt.keys, rt.settings, client_address(request), rt.now(), rt.password_slot
    )


def _status(outcome: login.Outcome) -> int:
    return 429 if outcome is login.Outcome.THROTTLED else 401


@router.get("/invite/{token}")
def invite_page(request: Request, auth: Anyone, token: str) -> Response:
    """Choose a password, from a one-time invitation."""
    rt = runtime(request)
    with transaction(rt.platform.sessions) as db:
        account = service.customer_for_invite(db, token, now=rt.now())
    if account is None:
        return _invalid(request)
    return render(request, "accounts/password.html", _password_context(request))


def _password_context(request: Request, error: str | None = None) -> dict[str, object]:
    return {
        "title": "Set your password",
        "intro": "Choose the password you will use with your e-mail address to see your data.",
        "username": None,
        "min_length": runtime(request).settings.password_min_length,
        "error": error,
    }


def _invalid(request: Request) -> Response:
    context = {"title": "Invitation not valid", "message": INVALID_INVITE}
    return render(request, "accounts/message.html", context, status_code=404)


@router.post("/invite/{token}")
def invite_submit(
    request: Request,
    auth: Anyone,
    token: str,
    password: TextField = "",
    password_confirm: TextField = "",
) -> Response:
    """Set the password, spend the invitation, and sign in."""
    rt = runtime(request)
    now = rt.now()
    with rt.password_slot(), transaction(rt.platform.sessions) as db:
        account = service.customer_for_invite(db, token, now=now)
        if account is None:
            return _invalid(request)
        error = None if password == password_confirm else "The two passwords are not the same."
        try:
            if error is None:
                service.accept_invite(db, account, password, settings=rt.settings, now=now)
        except WeakPassword as exc:
            error = exc.message
        if error is not None:
            context = _password_context(request, error)
            return render(request, "accounts/password.html", context, status_code=422)
        if auth.raw_id is not None:
            sessions.destroy(db, auth.raw_id)
        raw_id = sessions.start(
            db, kind=SessionKind.CUSTOMER, stage=Stage.FULL, now=now, customer_id=account.id
        )
    return with_session(request, redirect(HOME), raw_id)


@router.get("/me/login")
def login_page(request: Request, auth: Anyone, next: str = "") -> Response:
    """The customer sign-in form (e-mail and password)."""
    return render(request, "accounts/login.html", {"next": next, "who": "customer"})


@router.post("/me/login")
def login_submit(
    request: Request,
    auth: Anyone,
    email: TextField = "",
    password: TextField = "",
    next: TextField = "",
) -> Response:
    """Check the password; continue to the code page when the account has a second factor."""
    rt, ctx = runtime(request), _ctx(request)
    plat = rt.platform
    outcome, account = login.customer_password(
        plat.readers, plat.sessions, ctx, plat.secrets, email=email, password=password
    )
    raw_id = None
    if account is not None:
        with transaction(plat.sessions) as db:
            if auth.raw_id is not None:
                sessions.destroy(db, auth.raw_id)
            stage = Stage.PASSWORD if account.has_totp else Stage.FULL
            raw_id = sessions.start(
                db, kind=SessionKind.CUSTOMER, stage=stage, now=ctx.now, customer_id=account.id
            )
    if raw_id is None or account is None:
        context = {"next": next, "who": "customer", "error": GENERIC_FAILURE, "email": email}
        return render(request, "accounts/login.html", context, status_code=_status(outcome))
    target = safe_next(next, HOME)
    if account.has_totp:
        target = f"/me/login/mfa?next={quote(target, safe='')}"
    return with_session(request, redirect(target), raw_id)


@router.get("/me/login/mfa")
def code_page(request: Request, auth: AwaitingCode, next: str = "") -> Response:
    """The customer's second-factor form."""
    return render(request, "accounts/code.html", {"next": next, "action": "/me/login/mfa"})


@router.post("/me/login/mfa")
def code_submit(
    request: Request, auth: AwaitingCode, code: TextField = "", next: TextField = ""
) -> Response:
    """Check the code; on success the session gets a new id and full access."""
    ctx = _ctx(request)
    assert auth.row is not None and auth.row.customer_id is not None
    with transaction(runtime(request).platform.sessions) as db:
        outcome = login.customer_code(db, ctx, account_id=auth.row.customer_id, code=code)
        raw_id = None
        if outcome is login.Outcome.OK:
            raw_id = sessions.rotate(db, auth.row, stage=Stage.FULL, now=ctx.now)
    if raw_id is None:
        context = {"next": next, "action": "/me/login/mfa", "error": GENERIC_FAILURE}
        return render(request, "accounts/code.html", context, status_code=_status(outcome))
    return with_session(request, redirect(safe_next(next, HOME)), raw_id)


@router.get("/me/security")
def security_page(request: Request, me: Customer) -> Response:
    """Whether a second factor is on, and the way to turn it on."""
    with runtime(request).platform.sessions() as db:
        account = db.get(CustomerAccount, me.account_id)
    return render(request, "accounts/me_security.html", {"me": me, "account": account})


@router.get("/me/security/totp")
def totp_page(request: Request, me: Customer) -> Response:
    """Set up an authenticator: QR code, secret in text, first code."""
    context = _setup_context(request, me)
    if context is None:
        return redirect("/me/security", status_code=302)
    return render(request, "accounts/totp_setup.html", context)


def _setup_context(
    request: Request, me: CustomerPrincipal, error: str | None = None
) -> dict[str, object] | None:
    rt = runtime(request)
    with transaction(rt.platform.sessions) as db:
        account = db.get(CustomerAccount, me.account_id)
        if account is None or account.has_totp:
            return None
        secret = service.pending_totp_secret(db, account, rt.keys)
    uri = totp.provisioning_uri(secret, account_name=f"household {me.household_id}")
    return {
        "qr": totp.qr_svg(uri),
        "uri": uri,
        "secret": totp.grouped(secret),
        "action": "/me/security/totp",
        "error": error,
    }


@router.post("/me/security/totp")
def totp_submit(request: Request, me: Customer, code: TextField = "") -> Response:
    """Confirm the authenticator; later sign-ins ask for a code."""
    ctx = _ctx(request)
    with transaction(runtime(request).platform.sessions) as db:
        outcome = login.enable_customer_totp(db, ctx, account_id=me.account_id, code=code)
    if outcome is login.Outcome.OK:
        return redirect("/me/security")
    context = _setup_context(request, me, "That code did not match. Enter the code shown now.")
    if context is None:
        return redirect("/me/security")
    return render(request, "accounts/totp_setup.html", context, status_code=_status(outcome))
