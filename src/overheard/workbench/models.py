"""Model versions in the workbench: every version with its lineage, and a signed-in lead's approval.

The session already proved the lead's password and authenticator code; the approval is audited as
``learn.approve`` under the lead's pseudonym, like the command line's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..accounts.web import redirect
from ..db import transaction
from ..errors import OverheardError
from ..learn.approval import approve
from ..learn.registry import deleted_in_lineage, list_versions
from ._web import Lead, Overseer, now_of, page, platform_of

router = APIRouter(include_in_schema=False)
NOTICES = {
    "approved": "Version approved: the pipeline uses it from its next clip.",
    "not_a_candidate": "Only a candidate can be approved.",
    "trained_on_deleted": "It was trained on recordings deleted since: retrain without them.",
}


@router.get("/review/lead/models")
def models_page(request: Request, me: Overseer, notice: str = "") -> Response:
    """Every model version: state, lineage size and digest, deleted since, approval, files."""
    with platform_of(request).sessions() as session:
        rows = [(v, len(deleted_in_lineage(session, v.id))) for v in list_versions(session)]
    context = {"me": me, "title": "Model versions", "rows": rows, "notice": NOTICES.get(notice)}
    return page(request, "learn/models.html", context)


@router.post("/review/lead/models/{version_id}/approve")
def approve_version(request: Request, me: Lead, version_id: str) -> Response:
    """A signed-in lead approves a candidate version."""
    platform = platform_of(request)
    try:
        with transaction(platform.sessions) as session:
            approve(session, version_id, me.id, now=now_of(request))
    except OverheardError as exc:
        if exc.code not in NOTICES:
            raise
        return redirect(f"/review/lead/models?notice={exc.code}")
    return redirect("/review/lead/models?notice=approved")
