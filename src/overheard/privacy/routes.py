"""The ``/privacy`` pages, for privacy officers only: the emergency queue and its cases, and
re-identification under the two-person rule. Thin: authorise, call a service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import Response

from ..accounts.context import runtime
from ..accounts.models import Role
from ..accounts.rbac import StaffPrincipal, require
from ..accounts.web import AUDIO_HEADERS, SECURITY_HEADERS, redirect, render
from ..db import transaction
from ..hazmat import reidentify
from ..platform import Platform
from ..protect import serving
from . import emergency

router = APIRouter(include_in_schema=False)

Officer = Annotated[StaffPrincipal, Depends(require(Role.PRIVACY_OFFICER))]
OfficerPoll = Annotated[StaffPrincipal, Depends(require(Role.PRIVACY_OFFICER, poll=True))]
"""The case page asking its state route: a stranger gets 401 JSON, and the poll is not activity."""
TextField = Annotated[str, Form()]
PAGE_CSP = SECURITY_HEADERS["Content-Security-Policy"] + "; media-src 'self'"
"""The account pages' policy, plus the case player's audio from this site."""
CASE_CSP = PAGE_CSP + " blob:; script-src 'self'; connect-src 'self'"
"""The case page also runs ``clip.js`` and ``case.js``, which fetch the clip (waiting out a 503 while
it is prepared) and play it from a ``blob:`` URL, and ask this site whether the case still serves it
(dropping the clip and its text once it does not, or once the officer is signed out)."""


def _platform(request: Request) -> Platform:
    return runtime(request).platform


def _page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    response = render(request, f"privacy/{name}", context, status_code=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _emergency_policy(request: Request) -> emergency.EmergencyPolicy:
    return emergency.EmergencyPolicy.from_settings(_platform(request).settings)


def _reid_policy(request: Request) -> reidentify.ReidentifyPolicy:
    return reidentify.ReidentifyPolicy.from_settings(_platform(request).settings)


@router.get("/privacy")
def queue_page(request: Request, me: Officer) -> Response:
    """The emergency queue: clip pseudonym, flag time, state, deadlines; open a case from here."""
    policy, now = _emergency_policy(request), runtime(request).now()
    with transaction(_platform(request).sessions) as session:
        items = emergency.queue(session, policy, now)
    return _page(request, "queue.html", {"me": me, "items": items, "policy": policy, "now": now})


@router.post("/privacy/emergencies/{report_id}/case")
def open_case(request: Request, me: Officer, report_id: str) -> Response:
    """Open (or return to) a time-boxed, audited case on a report."""
    policy, now = _emergency_policy(request), runtime(request).now()
    with transaction(_platform(request).sessions) as session:
        case = emergency.open_case(session, report_id, me.pseudonym, policy, now)
    return redirect(f"/privacy/cases/{case.id}")


@router.get("/privacy/cases/{case_id}")
def case_page(request: Request, me: Officer, case_id: str) -> Response:
    """The case: redacted transcript, a player for the disguised clip, the report's history."""
    plat, now = _platform(request), runtime(request).now()
    text = emergency.text_for_case(plat, case_id=case_id, officer=me.pseudonym, now=now)
    with plat.sessions() as session:
        case = emergency.case_of(session, case_id, me.pseudonym, now)
        actions = emergency.actions_of(session, plat.keyring, case.report_id)
    context = {"me": me, "case": case, "text": text, "actions": actions}
    response = _page(request, "case.html", context)
    response.headers["Content-Security-Policy"] = CASE_CSP
    return response


@router.get("/privacy/cases/{case_id}/state")
def case_state(request: Request, me: OfficerPoll, case_id: str) -> Response:
    """204 while the case may serve its clip; else the refusal its audio would get (the page then
    drops the clip and its text). Opens and records nothing."""
    grant = emergency.case_grant(case_id, me.pseudonym)
    serving.check_grant(_platform(request), grant, now=runtime(request).now())
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.get("/privacy/cases/{case_id}/audio")
def case_audio(request: Request, me: Officer, case_id: str) -> Response:
    """The case's clip: disguised, watermarked for this officer, audited."""
    clip = emergency.clip_for_case(
        _platform(request), case_id=case_id, officer=me.pseudonym, now=runtime(request).now()
    )
    return Response(clip.wav, media_type="audio/wav", headers=AUDIO_HEADERS)


@router.post("/privacy/emergencies/{report_id}/act")
def act(
    request: Request, me: Officer, report_id: str, action: TextField = "", note: TextField = ""
) -> Response:
    """Acknowledge, escalate or close a report, with a note."""
    plat = _platform(request)
    with transaction(plat.sessions) as session:
        emergency.act(
            session, plat.gate, report_id, me.pseudonym, action, note, runtime(request).now()
        )
    return redirect("/privacy")


@router.get("/privacy/reidentify")
def reidentify_page(request: Request, me: Officer, task: str = "") -> Response:
    """Ask for a re-identification, decide others' requests, view your approved ones."""
    plat, policy, now = _platform(request), _reid_policy(request), runtime(request).now()
    with transaction(plat.sessions) as session:
        rows = reidentify.requests(session, policy, now)
        written = reidentify.written(session, plat.keyring, rows)
    context = {"me": me, "rows": rows, "written": written, "task": task, "policy": policy}
    return _page(request, "reidentify.html", context)


@router.post("/privacy/reidentify")
def reidentify_request(
    request: Request, me: Officer, task: TextField = "", reason: TextField = ""
) -> Response:
    """File a request with a written reason; a second privacy officer must approve it."""
    plat, policy, now = _platform(request), _reid_policy(request), runtime(request).now()
    with transaction(plat.sessions) as session:
        reidentify.request(
            session, plat.gate, me, task_pseudonym=task, reason=reason, policy=policy, now=now
        )
    return redirect("/privacy/reidentify")


@router.post("/privacy/reidentify/{request_id}/decide")
def reidentify_decide(
    request: Request, me: Officer, request_id: str, decision: TextField = "", note: TextField = ""
) -> Response:
    """Approve or deny another officer's request."""
    plat, policy, now = _platform(request), _reid_policy(request), runtime(request).now()
    approve = decision == "approve"
    with transaction(plat.sessions) as session:
        reidentify.decide(
            session, plat.gate, me, request_id, approve=approve, note=note, policy=policy, now=now
        )
    return redirect("/privacy/reidentify")


@router.post("/privacy/reidentify/{request_id}/view")
def reidentify_view(request: Request, me: Officer, request_id: str) -> Response:
    """The identity behind an approved request of yours: shown once, never again."""
    plat, policy, now = _platform(request), _reid_policy(request), runtime(request).now()
    with transaction(plat.sessions) as session:
        identity = reidentify.view(session, plat.keyring, me, request_id, policy=policy, now=now)
    return _page(
        request, "identity.html", {"me": me, "identity": identity, "request_id": request_id}
    )


def install(app: FastAPI, platform: Platform) -> None:
    """Add the privacy pages to ``app`` and switch on the serving layer's hooks for ``platform``."""
    serving.install(platform)
    app.include_router(router)
