"""The annotator's page without page loads: each form the page's script sends is answered with the
next clip as JSON, shown in place, so a reviewed clip costs two requests (this answer and the audio).

The script sends the very form a browser without it posts (same fields, same CSRF token, same
routes) with ``Accept: application/json``; without the script the routes answer with a redirect to
``/review`` as before. A submit claims the next clip in the annotation's own transaction. The answer holds what that page would show after the redirect — the task
claimed and its text opened in one transaction, the same audit events, a fresh audio URL for this
session, the shift figures — and nothing the page does not show (no task id, no lease expiry).
Anything unusual (an empty queue, a text that could not be opened) answers ``load``: the script
then loads that page as a form would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse

from ..accounts.rbac import StaffPrincipal
from ..accounts.web import SECURITY_HEADERS
from ..protect.serving import StaffText
from ..review.queue import Lease
from ..review.stats import AnnotatorStats
from . import flow
from ._web import audio_urls, now_of, platform_of, session_id
from .metrics import ShiftStats

JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": SECURITY_HEADERS["Referrer-Policy"]}
"""The answer carries redacted text: never cached, never sniffed."""


Figures = tuple[ShiftStats, AnnotatorStats]
"""The annotator's shift and all-time figures."""


@dataclass(frozen=True)
class Step:
    """Where the page goes after a form: its notice and the annotation it may offer to undo."""

    code: str
    """The notice's code (``submitted``, ``skipped``, ``undone``, ``lease_expired``…)."""
    notice: str | None
    """The notice's text, shown in the page's status line."""
    undo: str = ""
    """The annotation id the page offers to undo (after a submit)."""


def wants_json(request: Request) -> bool:
    """True when the page's script (not a plain form post) sent the request."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def next_step(
    request: Request, me: StaffPrincipal, step: Step, figures: Callable[[], Figures]
) -> JSONResponse:
    """The next clip (claimed, or the one held) as the page shows it, or ``load`` for a page;
    ``figures`` are read only for a clip (the page that ``load`` opens reads its own)."""
    now = now_of(request)
    return step_answer(request, step, flow.claim_with_text(platform_of(request), me.pseudonym, now), figures)


def step_answer(
    request: Request,
    step: Step,
    found: tuple[Lease, StaffText | None] | None,
    figures: Callable[[], Figures],
) -> JSONResponse:
    """``next_step``'s answer for the clip ``found`` as ``flow.claim_with_text`` answers it (a
    submit's: ``flow.submit_and_claim``'s ``following``)."""
    now = now_of(request)
    if found is None or found[1] is None:  # empty queue, or the page says why the text is refused
        return JSONResponse({"load": f"/review?notice={quote(step.code)}"}, headers=JSON_HEADERS)
    lease, text = found
    audio = audio_urls(request).mint("lease", lease.lease_id, session_id(request), now)
    body = {
        "notice": step.notice,
        "undo": step.undo,
        "task": task_json(request, lease, text, audio),
        "stats": stats_json(*figures()),
    }
    return JSONResponse(body, headers=JSON_HEADERS)


def stay(notice: str) -> JSONResponse:
    """The page keeps its clip (and what was typed) and shows ``notice``: the lease is still live."""
    return JSONResponse({"notice": notice, "stay": True}, headers=JSON_HEADERS)


def task_json(request: Request, lease: Lease, text: StaffText, audio: str) -> dict[str, object]:
    """What the task page shows of a leased clip, as its template shows it."""
    return {
        "lease_id": lease.lease_id,
        "pseudonym": lease.task.pseudonym,
        "duration": f"{lease.task.duration_s:.1f}",
        "hypothesis": text.hypothesis,
        "words": [
            {"text": w.text, "start_s": w.start_s, "end_s": w.end_s, "confidence": w.confidence,
             "low": w.low, "redacted": w.redacted}
            for w in text.words
        ],
        "earlier": list(text.earlier),
        "audio_url": audio,
        "intents": list(flow.intent_choices(platform_of(request))),
    }


def stats_json(shift: ShiftStats, record: AnnotatorStats) -> dict[str, str]:
    """The shift figures as the page prints them, by element id."""
    return {
        "shift-clips": str(shift.clips),
        "shift-minutes": f"{shift.minutes_listened:.1f}",
        "shift-skips": str(shift.skips),
        "total-clips": str(record.clips_done),
    }
