"""Lead, admin and privacy-officer pages: queue depth, annotators by pseudonym, adjudication, settings.

Figures come from review metadata only. A lead hears and reads a disagreement's clip through
``overheard.protect.serving`` (disguised, watermarked, redacted, audited), like annotators do.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ..accounts.aliases import alias_key, staff_alias
from ..accounts.web import redirect
from ..db import transaction
from ..errors import NotFound, OverheardError
from ..protect import focus, serving
from ..review.agreement import AdjudicationItem, adjudicate, adjudication_queue
from ..review.lead import ask_second, gold_from, recent_reviewed
from ..review.policy import ReviewPolicy
from . import flow, metrics
from ._web import Lead, LeadPoll, Overseer, audio_urls, now_of, page, platform_of, session_id
from .routes import FLAG_LABELS

router = APIRouter(include_in_schema=False)
TextField = Annotated[str, Form()]
FlagsField = Annotated[list[str] | None, Form()]
CORRECT = "correct"
"""The adjudication choice that stores the lead's own answer."""
LEAD_NOTICES = {
    "adjudicated": "Adjudication saved.",
    "adjudication_closed": "That one was already settled.",
    "second_asked": "A second annotation was queued (never for the first annotator).",
    "gold_made": "Gold item made: annotators will meet this clip with a known answer.",
}


def policy_rows(policy: ReviewPolicy) -> list[tuple[str, str, object]]:
    """(setting name, meaning, value) for every field of the review policy."""
    docs = _field_docs()
    return [(f"review_{f.name}", docs.get(f.name, ""), getattr(policy, f.name)) for f in fields(policy)]


def _field_docs() -> dict[str, str]:
    from ..config import Settings

    return {
        name.removeprefix("review_"): info.description or ""
        for name, info in Settings.model_fields.items()
        if name.startswith("review_")
    }


@router.get("/review/lead")
def overview(request: Request, me: Overseer, notice: str = "") -> Response:
    """Queue depth, each annotator's throughput, agreement and gold score, open adjudications."""
    platform, now = platform_of(request), now_of(request)
    with platform.sessions() as session:
        depth = metrics.queue_depth(session, now)
        key = alias_key(platform.secrets)
        annotators = [  # other staff see an alias, never a colleague's sign-in name
            replace(row, pseudonym=staff_alias(key, row.pseudonym))
            for row in metrics.annotator_rows(session, now)
        ]
        waiting = adjudication_queue(session)
        heard = focus.heard(session)
        reviewed = recent_reviewed(session, now)
    options = flow.Options.of(platform)
    context = {
        "me": me,
        "title": "Review queue",
        "notice": LEAD_NOTICES.get(notice),
        "depth": depth,
        "heard": heard,
        "annotators": annotators,
        "window_h": metrics.THROUGHPUT_WINDOW_S / metrics.SECONDS_PER_HOUR,
        "adjudications": waiting,
        "reviewed": reviewed,
        "policy": policy_rows(options.policy),
        "require_full_listen": options.require_full_listen,
    }
    return page(request, "review/lead.html", context)


def _item(request: Request, agreement_id: str) -> AdjudicationItem:
    with platform_of(request).sessions() as session:
        for item in adjudication_queue(session):
            if item.agreement_id == agreement_id:
                return item
    raise NotFound("no such open adjudication", code="adjudication_not_found")


@router.get("/review/lead/adjudications/{agreement_id}")
def adjudication_page(request: Request, me: Lead, agreement_id: str) -> Response:
    """One disagreement: the clip, the recogniser's text and both transcripts, and the choices."""
    platform, now = platform_of(request), now_of(request)
    item = _item(request, agreement_id)
    text = serving.text_for_adjudication(
        platform, agreement_id=agreement_id, lead=me.pseudonym, now=now
    )
    context = {
        "me": me,
        "title": f"Adjudicate {item.task_pseudonym}",
        "item": item,
        "hypothesis": text.hypothesis,
        "transcripts": text.earlier,
        "audio_url": audio_urls(request).mint("adjudication", agreement_id, session_id(request), now),
        "intents": flow.intent_choices(platform),
        "flags": FLAG_LABELS,
    }
    return page(request, "review/adjudicate.html", context)


@router.get("/review/lead/adjudications/{agreement_id}/state")
def adjudication_state(request: Request, me: LeadPoll, agreement_id: str) -> Response:
    """204 while the disagreement is open to this lead; else the refusal its audio would get (the
    page then drops the clip and its text). Opens and records nothing."""
    grant = serving.adjudication_grant(agreement_id, me.pseudonym)
    serving.check_grant(platform_of(request), grant, now=now_of(request))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/review/lead/adjudications/{agreement_id}")
def adjudication_submit(
    request: Request,
    me: Lead,
    agreement_id: str,
    choice: TextField = "",
    transcript: TextField = "",
    intent: TextField = "",
    flags: FlagsField = None,
) -> Response:
    """Settle a disagreement with one of its annotations or the lead's correction."""
    platform = platform_of(request)
    corrected = flow.answer_from(transcript, intent, flags or []) if choice == CORRECT else None
    chosen = None if choice == CORRECT else choice
    try:
        with transaction(platform.sessions) as session:
            adjudicate(
                session,
                platform.gate,
                agreement_id,
                me.pseudonym,
                chosen_annotation_id=chosen,
                corrected=corrected,
                now=now_of(request),
            )
    except OverheardError as exc:
        if exc.code != "adjudication_closed":
            raise
        return redirect("/review/lead?notice=adjudication_closed")
    return redirect("/review/lead?notice=adjudicated")


@router.post("/review/lead/reviewed/{annotation_id}/second")
def second_submit(request: Request, me: Lead, annotation_id: str) -> Response:
    """Queue a second, independent annotation of a reviewed clip."""
    platform = platform_of(request)
    with transaction(platform.sessions) as session:
        ask_second(session, annotation_id, me.pseudonym, now_of(request))
    return redirect("/review/lead?notice=second_asked#reviewed")


@router.post("/review/lead/reviewed/{annotation_id}/gold")
def gold_submit(request: Request, me: Lead, annotation_id: str) -> Response:
    """Make a reviewed clip a gold item, its answer the reviewed annotation."""
    platform = platform_of(request)
    with transaction(platform.sessions) as session:
        gold_from(session, platform.gate, annotation_id, me.pseudonym, now_of(request))
    return redirect("/review/lead?notice=gold_made#reviewed")
