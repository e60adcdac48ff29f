"""The review loop as JSON, for scripted review tools: the same session, CSRF header and roles.

Sign in through ``/login`` and ``/login/mfa`` as a browser would, read the CSRF token from
``GET /review/api/session``, then loop ``claim`` → ``task`` (→ audio) → ``submit`` or ``skip``.
Fewer round trips: ``claim?with_task=true`` answers the task's text and audio URL too, and a
``submit`` with ``"next": true`` answers the next such task, claimed in the annotation's own
transaction (audio → submit, then again).
``overheard.workbench.client.ReviewClient`` does exactly this.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from ..accounts import csrf
from ..accounts.rbac import StaffPrincipal
from ..protect import serving
from ..recordings.api import ErrorBody
from ..review.queue import Lease
from ..review.stats import annotator_stats
from . import flow, metrics
from ._web import Reviewer, audio_urls, now_of, platform_of, session_id
from .routes import shift_since


def _err(description: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": description}


REVIEW_ERRORS: dict[int | str, dict[str, object]] = {
    400: _err("`bad_intent`, `bad_flag`, `bad_request`: the annotation is not acceptable."),
    401: _err("`sign_in_required`: no staff session (ask for JSON with `Accept`)."),
    403: _err("`forbidden`, `csrf_failed`: not a reviewer role, or no valid `X-CSRF-Token`."),
    404: _err("`not_found`: no such lease for the caller."),
    409: _err(
        "`lease_expired`: the lease ran out, was withdrawn or is not the caller's; "
        "`not_heard`: the whole clip must be listened to before submitting."
    ),
    422: _err("`invalid_request`: the JSON body does not have the documented fields."),
    503: _err(
        "`clip_held`: the clip is held a moment (its household has a clip the pipeline has not "
        "heard yet, which may ask to delete it); nothing of it was served or stored: ask again "
        "after `Retry-After`."
    ),
}
"""What every review API route may answer besides its success."""



async def _never_stored(response: Response) -> None:
    """Answers carry a clip's text and audio URL: no browser or proxy cache may keep them.

    ``async``: it only sets a header, so it runs on the event loop; a plain function would be
    sent to the thread pool and back on every request of the review loop."""
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(
    prefix="/review/api",
    tags=["review"],
    responses=REVIEW_ERRORS,
    dependencies=[Depends(_never_stored)],
)


class LeaseRef(BaseModel):
    """Names a lease the caller holds."""

    lease_id: str = Field(max_length=64)


class SkipBody(LeaseRef):
    """A skip: the lease and one of the skip reasons."""

    reason: str = Field(max_length=32)


class SubmitBody(LeaseRef):
    """An annotation: corrected transcript, intent label (``none`` or empty for none), flags."""

    transcript: str
    intent: str = ""
    flags: list[str] = Field(default_factory=list)
    comment: str = ""
    next: bool = False
    """Also claim the next task and answer it as ``POST /claim?with_task=true`` does."""


class UndoBody(BaseModel):
    """Names the caller's last annotation."""

    annotation_id: str = Field(max_length=32)


def lease_json(lease: Lease, now_s: float) -> dict[str, object]:
    """A lease as the API shows it: pseudonym, task id, duration, seconds left."""
    return {
        "lease_id": lease.lease_id,
        "pseudonym": lease.task.pseudonym,
        "task_id": lease.task.task_id,
        "duration_s": lease.task.duration_s,
        "expires_in_s": lease.expires_at.timestamp() - now_s,
    }


@router.get("/session")
def session_info(request: Request, me: Reviewer) -> dict[str, str]:
    """Who is signed in, and the CSRF token every POST must carry as ``X-CSRF-Token``."""
    return {"pseudonym": me.pseudonym, "role": me.role.value, "csrf_token": csrf.token(request)}


@router.post("/claim")
def claim(request: Request, me: Reviewer, with_task: bool = False) -> dict[str, object]:
    """The caller's live lease or a new one; ``{"task": null}`` when nothing waits.

    With ``?with_task=true`` the task also carries what ``GET /task/{lease_id}`` answers (redacted
    text, a fresh audio URL, the intents), opened and audited in the claim's transaction; a task
    without ``audio_url`` could not be opened that way: ask ``/task`` for it.
    """
    now = now_of(request)
    return {"task": _claimed(request, me, now, with_task=with_task)}


def _claimed(
    request: Request, me: StaffPrincipal, now: datetime, *, with_task: bool
) -> dict[str, object] | None:
    platform = platform_of(request)
    if not with_task:
        lease = flow.claim(platform, me.pseudonym, now)
        return None if lease is None else lease_json(lease, now.timestamp())
    return _task_answer(request, flow.claim_with_text(platform, me.pseudonym, now), now)


def _task_answer(
    request: Request, found: tuple[Lease, serving.StaffText | None] | None, now: datetime
) -> dict[str, object] | None:
    """``claim?with_task=true``'s task from ``flow.claim_with_text``'s answer."""
    if found is None:
        return None
    lease, text = found
    if text is None:
        return lease_json(lease, now.timestamp())
    return task_json(request, lease, text, now)


def task_json(
    request: Request, lease: Lease, text: serving.StaffText, now: datetime
) -> dict[str, object]:
    """A leased task as ``GET /task/{lease_id}`` shows it, with a fresh audio URL (60 s, this session)."""
    audio = audio_urls(request).mint("lease", lease.lease_id, session_id(request), now)
    return {
        **lease_json(lease, now.timestamp()),
        "hypothesis": text.hypothesis,
        "words": [{**asdict(w), "low": w.low} for w in text.words],
        "earlier": list(text.earlier),
        "audio_url": audio,
        "intents": list(flow.intent_choices(platform_of(request))),
    }


@router.get("/task/{lease_id}")
def task(request: Request, me: Reviewer, lease_id: str) -> dict[str, object]:
    """The redacted text of the caller's leased task and a fresh audio URL (60 s, this session)."""
    platform, now = platform_of(request), now_of(request)
    text, lease = serving.text_and_lease(platform, lease_id=lease_id, staff=me.pseudonym, now=now)
    return task_json(request, lease, text, now)


@router.post("/heartbeat")
def heartbeat(request: Request, me: Reviewer, body: LeaseRef) -> dict[str, object]:
    """Renew the lease by the policy's lease length."""
    now = now_of(request)
    lease = flow.heartbeat(platform_of(request), me.pseudonym, body.lease_id, now)
    return lease_json(lease, now.timestamp())


@router.post("/skip")
def skip(request: Request, me: Reviewer, body: SkipBody) -> dict[str, bool]:
    """Give the task back; it is never offered to the caller again."""
    flow.skip(platform_of(request), me.pseudonym, body.lease_id, body.reason, now_of(request))
    return {"skipped": True}


@router.post("/submit")
def submit(request: Request, me: Reviewer, body: SubmitBody) -> dict[str, object]:
    """Store the annotation (sealed); claim again for the next task.

    With ``"next": true`` the answer also carries ``next``: what ``POST /claim?with_task=true``
    answers, claimed in the annotation's own transaction (``null`` if that claim was refused —
    the annotation is stored all the same —: claim again as usual). A refused submit claims nothing.
    """
    now = now_of(request)
    answer = flow.answer_from(body.transcript, body.intent, body.flags, body.comment)
    platform = platform_of(request)
    if not body.next:
        done = flow.submit(platform, me.pseudonym, body.lease_id, answer, now)
        return {"submitted": True, "annotation_id": done}
    both = flow.submit_and_claim(platform, me.pseudonym, body.lease_id, answer, now)
    following = None if both.refused else {"task": _task_answer(request, both.following, now)}
    return {"submitted": True, "annotation_id": both.annotation_id, "next": following}


@router.post("/undo", responses={409: {"description": "too late, or already worked on"}})
def undo(request: Request, me: Reviewer, body: UndoBody) -> dict[str, object]:
    """Take back an annotation while its lease would have lived; the clip is leased back."""
    now = now_of(request)
    lease = flow.undo(platform_of(request), me.pseudonym, body.annotation_id, now)
    return lease_json(lease, now.timestamp())


@router.get("/stats")
def stats(request: Request, me: Reviewer) -> dict[str, object]:
    """The caller's shift (since sign-in) and all-time figures."""
    with platform_of(request).sessions() as session:
        shift = metrics.shift_stats(session, me.pseudonym, shift_since(request))
        record = annotator_stats(session, me.pseudonym)
    return {
        "shift": {"clips": shift.clips, "skips": shift.skips, "minutes": shift.minutes_listened},
        "total": {"clips": record.clips_done, "skips": record.skips, "minutes": record.minutes_listened},
    }
