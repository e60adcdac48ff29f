"""The annotator workbench: ``/review`` claims and shows one clip; submit or skip brings the next
(as JSON shown in place when the page's script sends the form, see ``steps``; else a redirect).

The page knows the clip only by its pseudonym and duration. Audio and text come from
``overheard.protect.serving`` (disguised voice, watermark, redacted text, every open audited), the
audio through a short-lived URL bound to this browser session and this lease.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..accounts import csrf
from ..accounts.rbac import StaffPrincipal
from ..accounts.web import AUDIO_HEADERS, redirect
from ..errors import OverheardError
from ..platform import Platform
from ..protect import serving
from ..review import queue
from ..review.errors import LeaseExpired
from ..review.policy import Flag, SkipReason
from ..review.queue import Lease
from ..review.stats import annotator_stats
from . import flow, metrics, steps
from ._web import Reviewer, audio_urls, now_of, page, platform_of, session_id
from .audio_urls import AudioUrls

router = APIRouter(include_in_schema=False)
MAX_ID_CHARS = 32
"""Longest annotation id a page will offer to undo."""
HEARTBEAT_S = 30
"""How often the open page renews its lease, seconds."""
SEEK_S = 2
"""How far the arrow keys move in the clip, seconds."""
NOTICES = {
    "lease_expired": "That clip was taken back (its lease ran out or it was withdrawn). Here is the next one.",
    "submitted": "Saved. Here is the next clip.",
    "undone": "Your last submission was taken back: here is that clip again.",
    "undo_refused": "That submission can no longer be taken back.",
    "skipped": "Skipped. Here is the next clip.",
    "not_heard": "Listen to the whole clip before submitting.",
    "clip_held": "This clip is held for a moment; submit again in a few seconds.",
}
FLAG_LABELS = (
    (Flag.SENSITIVE, "Sensitive", "intimate or personal"),
    (Flag.EMERGENCY, "Emergency", "someone may be in danger"),
    (Flag.UNINTELLIGIBLE, "Unintelligible", "cannot make out the words"),
    (Flag.NOT_DIRECTED, "Not directed", "speech not meant for the device"),
    (Flag.WRONG_LANGUAGE, "Wrong language", "not the language under review"),
)
SKIP_LABELS = (
    (SkipReason.CANNOT_HEAR, "Cannot hear it"),
    (SkipReason.NOT_ENGLISH, "Not English"),
    (SkipReason.TECHNICAL_PROBLEM, "Technical problem"),
    (SkipReason.OTHER, "Other"),
)
TextField = Annotated[str, Form()]
FlagsField = Annotated[list[str] | None, Form()]


def install(app: FastAPI, platform: Platform) -> None:
    """Give ``app`` the workbench, its API and the lead pages."""
    from . import api, intents, lead, models

    app.state.workbench_audio = AudioUrls(platform.secrets)
    app.state.workbench_events_stream_s = EVENTS_STREAM_S
    app.include_router(api.router)
    app.include_router(router)
    app.include_router(lead.router)
    app.include_router(models.router)
    app.include_router(intents.router)


def shift_since(request: Request) -> datetime:
    """When this session's password was accepted: the start of the shift."""
    return request.state.auth.row.created_at


@router.get("/review")
def workbench(request: Request, me: Reviewer, notice: str = "", undo: str = "") -> Response:
    """Claim (or resume) a task and show it; a friendly page when the queue is empty."""
    platform, now = platform_of(request), now_of(request)
    found = flow.claim_with_text(platform, me.pseudonym, now)
    context = {
        "me": me,
        "notice": NOTICES.get(notice),
        "undo": undo if notice == "submitted" and len(undo) <= MAX_ID_CHARS else "",
        "stats": _stats(request, me.pseudonym),
        "title": "Review",
    }
    if found is None:
        return page(request, "review/empty.html", context)
    lease, text = found
    try:
        if text is None:  # could not be opened with the claim: ask again, for the refusal
            text = serving.text_for_lease(
                platform, lease_id=lease.lease_id, staff=me.pseudonym, now=now
            )
    except LeaseExpired:
        return redirect("/review?notice=lease_expired", status_code=302)
    except OverheardError as exc:
        context.update(lease=lease, problem=exc.message, skip_reasons=SKIP_LABELS)
        return page(request, "review/problem.html", context, status_code=exc.status)
    audio = audio_urls(request).mint("lease", lease.lease_id, session_id(request), now)
    context.update(task_context(request, lease, text, audio))
    return page(request, "review/task.html", context)


def task_context(
    request: Request, lease: Lease, text: serving.StaffText, audio: str
) -> dict[str, object]:
    """What the task page shows: pseudonym, duration, redacted text, the controls."""
    return {
        "lease": lease,
        "task": lease.task,
        "hypothesis": text.hypothesis,
        "words": text.words,
        "earlier": text.earlier,
        "audio_url": audio,
        "intents": flow.intent_choices(platform_of(request)),
        "flags": FLAG_LABELS,
        "skip_reasons": SKIP_LABELS,
        "heartbeat_s": HEARTBEAT_S,
        "seek_s": SEEK_S,
        "rates": flow.PLAYBACK_RATES,
        "csrf_token": csrf.token(request),
        "require_full_listen": flow.Options.of(platform_of(request)).require_full_listen,
    }


def _stats(request: Request, pseudonym: str) -> dict[str, object]:
    shift, record = _figures(request, pseudonym)
    return {"shift": shift, "record": record}


def _figures(request: Request, pseudonym: str) -> steps.Figures:
    with platform_of(request).sessions() as session:
        shift = metrics.shift_stats(session, pseudonym, shift_since(request))
        return shift, annotator_stats(session, pseudonym)


@router.post("/review/submit")
def submit_form(
    request: Request,
    me: Reviewer,
    lease_id: TextField = "",
    transcript: TextField = "",
    intent: TextField = "",
    flags: FlagsField = None,
    comment: TextField = "",
) -> Response:
    """Store the annotation and go on to the next clip (which offers to undo this one)."""
    platform, now = platform_of(request), now_of(request)
    try:
        answer = flow.answer_from(transcript, intent, flags or [], comment)
        if not steps.wants_json(request):
            done = flow.submit(platform, me.pseudonym, lease_id, answer, now)
            return _next(request, me, "submitted", undo=done)
        both = flow.submit_and_claim(platform, me.pseudonym, lease_id, answer, now)
    except OverheardError as exc:
        return _refused(request, me, exc)
    # The page's script: the next clip was claimed in the annotation's transaction.
    step = steps.Step("submitted", NOTICES.get("submitted"), both.annotation_id)
    return steps.step_answer(request, step, both.following, lambda: _figures(request, me.pseudonym))


@router.post("/review/undo")
def undo_form(request: Request, me: Reviewer, annotation_id: TextField = "") -> Response:
    """Take back the last submission and show that clip again."""
    try:
        flow.undo(platform_of(request), me.pseudonym, annotation_id, now_of(request))
    except OverheardError as exc:
        code = "undo_refused" if exc.status == 409 else exc.code
        return _stay(code, exc) if steps.wants_json(request) else _next(request, me, code)
    return _next(request, me, "undone")


@router.post("/review/skip")
def skip_form(
    request: Request, me: Reviewer, lease_id: TextField = "", reason: TextField = ""
) -> Response:
    """Give the task back with a reason and go on to the next clip."""
    try:
        flow.skip(platform_of(request), me.pseudonym, lease_id, reason, now_of(request))
    except OverheardError as exc:
        return _refused(request, me, exc)
    return _next(request, me, "skipped")


def _refused(request: Request, me: StaffPrincipal, exc: OverheardError) -> Response:
    # A lost lease goes on to the next clip; the page's script stays on the clip for anything else.
    if steps.wants_json(request) and not isinstance(exc, LeaseExpired):
        return _stay(exc.code, exc)
    return _next(request, me, exc.code)


def _next(request: Request, me: StaffPrincipal, code: str, *, undo: str = "") -> Response:
    """The next clip: a redirect to ``/review`` for a form, or the page's script's JSON step."""
    if steps.wants_json(request):
        step = steps.Step(code, NOTICES.get(code), undo)
        return steps.next_step(request, me, step, lambda: _figures(request, me.pseudonym))
    return redirect(f"/review?notice={quote(code)}" + (f"&undo={quote(undo)}" if undo else ""))


def _stay(code: str, exc: OverheardError) -> Response:
    return steps.stay(NOTICES.get(code, exc.message))


@router.post("/review/heartbeat")
def heartbeat(request: Request, me: Reviewer, lease_id: TextField = "") -> Response:
    """Renew the lease while the page is open (sent by the page's script with the CSRF header)."""
    now = now_of(request)
    lease = flow.heartbeat(platform_of(request), me.pseudonym, lease_id, now)
    return JSONResponse({"expires_in_s": (lease.expires_at - now).total_seconds()})


EVENTS_POLL_S = 1.0
"""How often the event stream looks at the lease, seconds (withdrawal reaches the page within it)."""
EVENTS_STREAM_S = 25.0
"""How long one event stream stays open; the browser reconnects at once (bounded connections)."""


@router.get("/review/events/{lease_id}")
async def lease_events(request: Request, me: Reviewer, lease_id: str) -> StreamingResponse:
    """Server-sent events for the open page: ``ended`` (with the lease and why) as soon as a lease
    stops being theirs — above all when the household withdraws the clip — so the page drops the
    audio. It watches ``lease_id`` and every lease given to them after it, so the page moves on to
    the next clips in place without opening another stream; it opens one with its current lease
    when this one closes."""
    platform, stream_s, who = platform_of(request), request.app.state.workbench_events_stream_s, me.pseudonym

    def since() -> datetime:
        with platform.sessions() as session:
            return queue.leased_at(session, lease_id, who) or now_of(request)

    def look(start: datetime, watched: set[str]) -> dict[str, str]:
        with platform.sessions() as session:
            return queue.lease_states(session, who, since=start, watched=watched, now=now_of(request))

    async def events(start: datetime, states: dict[str, str]) -> AsyncIterator[str]:
        yield f"retry: {int(EVENTS_POLL_S * 1000)}\n\n"
        told: set[str] = set()
        deadline = time.monotonic() + stream_s
        while True:
            news = [(lease, why) for lease, why in states.items() if why != "live" and lease not in told]
            for lease, why in news:
                told.add(lease)
                yield f"event: ended\ndata: {json.dumps({'why': why, 'lease_id': lease})}\n\n"
            if news and "live" not in states.values():
                return  # nothing of theirs left to watch: the page opens a new stream if it goes on
            await asyncio.sleep(EVENTS_POLL_S)
            if time.monotonic() >= deadline or await request.is_disconnected():
                return
            live = {lease for lease, why in states.items() if why == "live"}
            states = await run_in_threadpool(look, start, live)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    # The first look happens before the stream starts, so a bad id is an ordinary error answer.
    start = await run_in_threadpool(since)
    first = await run_in_threadpool(look, start, {lease_id})
    return StreamingResponse(events(start, first), media_type="text/event-stream", headers=headers)


@router.get("/review/audio/{token}")
def audio(request: Request, me: Reviewer, token: str) -> Response:
    """The disguised, watermarked clip behind a page's audio URL (this session only, briefly)."""
    platform, now = platform_of(request), now_of(request)
    grant = audio_urls(request).redeem(token, session_id(request), now)
    if grant.subject == "lease":
        clip = serving.clip_for_lease(
            platform, lease_id=grant.subject_id, staff=me.pseudonym, now=now
        )
    elif me.role == "lead":
        clip = serving.clip_for_adjudication(
            platform, agreement_id=grant.subject_id, lead=me.pseudonym, now=now
        )
    else:
        raise LeaseExpired("this clip is not yours")
    return Response(clip.wav, media_type="audio/wav", headers=AUDIO_HEADERS)
