"""The ``/me`` pages: the privacy dashboard, playback, access log, controls, receipts and export.

Thin: each route authorises (``require_customer()``), calls :mod:`overheard.customer.service` with
the signed-in household id, and renders. Any id of another household answers 404.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..accounts.context import runtime
from ..accounts.rbac import CustomerPrincipal, require_customer
from ..accounts.web import SECURITY_HEADERS, redirect, render
from ..errors import BadRequest
from ..platform import Platform
from ..recordings import voice_delete
from . import access, receipt_words, service
from .export import stream_export

router = APIRouter(include_in_schema=False)

Customer = Annotated[CustomerPrincipal, Depends(require_customer())]
TextField = Annotated[str, Form()]
CONFIRM_PHRASE = "delete everything"
"""What the owner types to confirm deleting everything."""
RECENT_RECEIPTS = 10
"""Deletion receipts the dashboard lists; the rest are a link away (/me/receipts)."""
PAGE_CSP = SECURITY_HEADERS["Content-Security-Policy"] + "; media-src 'self'"
"""The account pages' policy, plus playback of the owner's own audio from this site."""
NOTICES = {
    "review_on": "Saved: human review is on.",
    "review_off": "Saved: human review is off, and every clip waiting for a reviewer was withdrawn.",
    "retention": "Saved: how long your recordings are kept.",
    "retention_sweep": "Saved: your recordings are kept {kept}. Older ones are deleted at the next "
    "sweep, each deletion with its receipt below.",
    "undone": "Undone: that voice deletion will not happen.",
}
"""What the dashboard says after one of its own forms was saved (``/me?saved=…``)."""


def _notice(saved: str, retention: str) -> str | None:
    """What ``/me?saved=…`` says, the household's retention choice filled in."""
    notice = NOTICES.get(saved)
    return (
        notice.format(kept=receipt_words.RETENTION_LABELS.get(retention, retention))
        if notice
        else None
    )


def _platform(request: Request) -> Platform:
    return runtime(request).platform


def _page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    response = render(request, f"customer/{name}", context, status_code=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@router.get("/me")
def dashboard(
    request: Request,
    me: Customer,
    page: Annotated[int, Query(ge=0, le=service.MAX_PAGE)] = 0,
    saved: str = "",
) -> Response:
    """Every recording with its transcript, intent, playback and human-review history; controls."""
    plat = _platform(request)
    actor = service.actor_of(me.account_id)
    views, total = service.list_recordings(plat, me.household_id, actor, page=page)
    with plat.sessions() as session:
        home = service.household(session, me.household_id)
    receipts, receipts_total = service.receipts(plat, me.household_id, size=RECENT_RECEIPTS)
    context = {
        "me": me,
        "notice": _notice(saved, home.retention),
        "recordings": views,
        "total": total,
        "page": max(page, 0),
        "pages": max(1, -(-total // service.PAGE_SIZE)),
        "human_review": home.human_review,
        "retention": home.retention,
        "retention_labels": receipt_words.RETENTION_LABELS,
        "timezone": home.timezone,
        "receipts": receipts,
        "receipts_total": receipts_total,
        "words": receipt_words,
        "pending_deletions": service.pending_voice_deletions(plat, me.household_id),
    }
    return _page(request, "dashboard.html", context)


@router.get("/me/recordings/{recording_id}/audio")
def recording_audio(request: Request, me: Customer, recording_id: str) -> Response:
    """The recording in the owner's own voice, as WAV; never cached."""
    actor = service.actor_of(me.account_id)
    wav = service.audio_wav(_platform(request), me.household_id, recording_id, actor)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response(wav, media_type="audio/wav", headers=headers)


@router.post("/me/recordings/{recording_id}/delete")
def delete_recording(
    request: Request, me: Customer, recording_id: str, confirm: TextField = ""
) -> Response:
    """Delete one recording once confirmed; shows its receipt."""
    rt = runtime(request)
    if confirm != "yes":
        when = service.captured_at(rt.platform, me.household_id, recording_id)
        what = f"the recording of {when:%Y-%m-%d %H:%M:%S} UTC"
        return _confirm(request, me, f"/me/recordings/{recording_id}/delete", what, {})
    actor = service.actor_of(me.account_id)
    done = service.delete_one(rt.platform, me.household_id, recording_id, actor, rt.now())
    return redirect(f"/me/receipts/{done.id}")


@router.post("/me/delete/range")
def delete_range(
    request: Request,
    me: Customer,
    first: TextField = "",
    last: TextField = "",
    confirm: TextField = "",
) -> Response:
    """Delete the recordings of a range of days (household time zone) once confirmed; shows the
    receipt."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise BadRequest("give the days as YYYY-MM-DD", code="bad_range") from None
    rt = runtime(request)
    if confirm != "yes":
        count = service.count_dates(rt.platform, me.household_id, start, end)
        days = f"from {start} to {end}" if end != start else f"on {start}"
        if count == 0:  # nothing to confirm: say so rather than offer to delete nothing
            return _page(request, "nothing.html", {"me": me, "days": days})
        what = f"{receipt_words.recordings(count)} captured {days}"
        fields = {"first": start.isoformat(), "last": end.isoformat()}
        return _confirm(request, me, "/me/delete/range", what, fields)
    actor = service.actor_of(me.account_id)
    done = service.delete_dates(rt.platform, me.household_id, start, end, actor, rt.now())
    return redirect(f"/me/receipts/{done.id}")


def _confirm(
    request: Request, me: CustomerPrincipal, action: str, what: str, fields: dict[str, str]
) -> Response:
    """The page that asks before a deletion; nothing is deleted until its button is pressed."""
    context = {"me": me, "action": action, "what": what, "fields": fields}
    return _page(request, "confirm.html", context)


@router.post("/me/voice-deletions/{job_id}/undo")
def undo_voice_deletion(request: Request, me: Customer, job_id: str) -> Response:
    """Cancel a voice deletion still inside its undo period; back to the dashboard."""
    rt = runtime(request)
    actor = service.actor_of(me.account_id)
    voice_delete.undo(rt.platform, me.household_id, job_id, actor, rt.now())
    return redirect("/me?saved=undone")


@router.get("/me/delete/everything")
def everything_page(request: Request, me: Customer) -> Response:
    """What deleting everything does, and the confirmation form."""
    return _page(request, "everything.html", {"me": me, "phrase": CONFIRM_PHRASE})


@router.post("/me/delete/everything")
def delete_everything(request: Request, me: Customer, confirm: TextField = "") -> Response:
    """Destroy the household key, then every copy; shows the receipt."""
    if confirm.strip().lower() != CONFIRM_PHRASE:
        context = {"me": me, "phrase": CONFIRM_PHRASE, "error": f"Type “{CONFIRM_PHRASE}”."}
        return _page(request, "everything.html", context, status=422)
    rt = runtime(request)
    actor = service.actor_of(me.account_id)
    done = service.delete_all(rt.platform, me.household_id, actor, rt.now())
    return redirect(f"/me/receipts/{done.id}")


@router.post("/me/review")
def set_review(request: Request, me: Customer, human_review: TextField = "") -> Response:
    """Turn human review on or off; off withdraws every open task at once."""
    rt = runtime(request)
    on = human_review == "on"
    actor = service.actor_of(me.account_id)
    service.set_review(rt.platform, me.household_id, on, actor, rt.now())
    return redirect(f"/me?saved=review_{'on' if on else 'off'}#controls")


@router.post("/me/retention")
def set_retention(
    request: Request, me: Customer, retention: TextField = "", confirm: TextField = ""
) -> Response:
    """Choose how long recordings are kept; a choice that makes the sweep delete some asks first."""
    rt = runtime(request)
    gone, before = service.past_retention(rt.platform, me.household_id, retention, rt.now())
    if gone and before is not None and confirm != "yes":
        return _confirm_retention(request, me, retention, gone, before)
    actor = service.actor_of(me.account_id)
    service.set_retention(rt.platform, me.household_id, retention, actor, rt.now())
    return redirect(f"/me?saved={'retention_sweep' if gone else 'retention'}#controls")


def _confirm_retention(
    request: Request, me: CustomerPrincipal, retention: str, gone: int, before: datetime
) -> Response:
    """The question before a retention choice that will delete ``gone`` older recordings."""
    kept = receipt_words.RETENTION_LABELS[retention]
    count = receipt_words.recordings(gone)
    sweep = _within(_platform(request).settings.retention_sweep_every_s)
    context = {
        "me": me,
        "action": "/me/retention",
        "fields": {"retention": retention},
        "question": f"Keep your recordings for {kept}?",
        "note": f"{count} captured before {before:%Y-%m-%d %H:%M} UTC will be deleted at the next "
        f"sweep, {sweep}, and so will each recording as it grows older than {kept}.",
        "button": f"Yes, keep {kept} and delete {count}",
        "keep": "No, change nothing",
    }
    return _page(request, "confirm.html", context)


def _within(seconds: float) -> str:
    """How soon the retention sweep comes, in words: "within the hour"."""
    if seconds <= 60:
        return "within a minute"
    if seconds < 3600:
        return f"within {-(-int(seconds) // 60)} minutes"
    if seconds == 3600:
        return "within the hour"
    return f"within {-(-int(seconds) // 3600)} hours"


@router.get("/me/access")
def access_page(
    request: Request,
    me: Customer,
    before: Annotated[int | None, Query(ge=0, le=service.MAX_SEQ)] = None,
    show: str = "all",
) -> Response:
    """Every time anyone — staff, devices, the system, you — touched this household's data."""
    if show not in access.FILTERS:
        raise BadRequest(f"show must be one of {', '.join(access.FILTERS)}", code="bad_filter")
    you = service.actor_of(me.account_id)
    log = access.access_page(_platform(request), me.household_id, you, before_seq=before, show=show)
    context = {"me": me, "log": log, "show": show, "filters": access.FILTERS}
    return _page(request, "access.html", context)


@router.get("/me/receipts")
def receipts_page(
    request: Request,
    me: Customer,
    page: Annotated[int, Query(ge=0, le=service.MAX_PAGE)] = 0,
) -> Response:
    """Every deletion receipt of the household, newest first, a page at a time."""
    rows, total = service.receipts(
        _platform(request), me.household_id, page=page, size=service.PAGE_SIZE
    )
    context = {
        "me": me,
        "receipts": rows,
        "words": receipt_words,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // service.PAGE_SIZE)),
    }
    return _page(request, "receipts.html", context)


@router.get("/me/receipts/{receipt_id}")
def receipt_page(request: Request, me: Customer, receipt_id: str) -> Response:
    """A deletion receipt: what was destroyed, signed."""
    body = service.receipt(_platform(request), me.household_id, receipt_id)
    text = json.dumps(body, indent=2, sort_keys=True)
    completed_at, waiting = service.receipt_progress(_platform(request), receipt_id)
    context = {
        "me": me,
        "receipt": body,
        "text": text,
        "completed_at": completed_at,
        "waiting": waiting,
        "words": receipt_words,
    }
    return _page(request, "receipt.html", context)


@router.get("/me/receipts/{receipt_id}/json")
def receipt_json(request: Request, me: Customer, receipt_id: str) -> Response:
    """The signed receipt as a JSON file."""
    body = service.receipt(_platform(request), me.household_id, receipt_id)
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="deletion-receipt-{receipt_id}.json"',
    }
    return Response(
        json.dumps(body, indent=2, sort_keys=True), media_type="application/json", headers=headers
    )


@router.get("/me/export")
def export(request: Request, me: Customer) -> Response:
    """Download all my data: a zip streamed as it is written (audited)."""
    rt = runtime(request)
    actor = service.actor_of(me.account_id)
    chunks = stream_export(rt.platform, me.household_id, actor, rt.now())
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="overheard-{me.household_id}.zip"',
    }
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)
