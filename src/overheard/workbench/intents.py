"""The intent catalogue in the workbench: every intent reviewers can pick, and a lead's additions.

Overseers read the catalogue; a signed-in lead adds an intent (or more examples of a known one),
one example request per line. Additions go to the same file ``overheard intents add`` writes and
``train nlu`` learns; each is audited as ``intents.add`` under the lead's pseudonym (the label and
the number of examples, never their text).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from .. import audit
from ..accounts.web import redirect
from ..db import transaction
from ..errors import BadRequest
from ..speech import catalogue
from ..speech.seed import seed_requests
from ._web import Lead, Overseer, now_of, page, platform_of

router = APIRouter(include_in_schema=False)
TextField = Annotated[str, Form()]
MAX_EXAMPLES = 200
"""Example requests one addition may carry."""
NOTICES = {"added": "Added: reviewers can pick it now; the next `train nlu` learns the examples."}


@router.get("/review/lead/intents")
def intents_page(request: Request, me: Overseer, notice: str = "") -> Response:
    """Every intent of the catalogue with its seed and added example counts; the add form."""
    settings = platform_of(request).settings
    seed = Counter(row.intent for row in seed_requests("train"))
    added = Counter(intent for _, intent in catalogue.lead_examples(settings))
    rows = [(name, seed[name], added[name]) for name in catalogue.intents(settings)]
    context = {
        "me": me,
        "title": "Intent catalogue",
        "rows": rows,
        "notice": NOTICES.get(notice),
        "max_examples": MAX_EXAMPLES,
    }
    return page(request, "learn/intents.html", context)


@router.post("/review/lead/intents")
def add_intent(
    request: Request, me: Lead, intent: TextField = "", examples: TextField = ""
) -> Response:
    """A signed-in lead adds an intent, or examples of a known one (one request per line)."""
    platform = platform_of(request)
    lines = [line for line in examples.splitlines() if line.strip()]
    if len(lines) > MAX_EXAMPLES:
        raise BadRequest(f"at most {MAX_EXAMPLES} examples at once", code="too_many_examples")
    label = intent.strip().lower()
    with transaction(platform.sessions) as session:  # add_intent checks every line before writing
        written = catalogue.add_intent(platform.settings, label, lines)
        audit.append(
            session,
            actor=me.pseudonym,
            action="intents.add",
            subject=label,
            details={"examples": written},
            now=now_of(request),
        )
    return redirect("/review/lead/intents?notice=added")
