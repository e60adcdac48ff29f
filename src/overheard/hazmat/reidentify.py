"""Re-identifying a household behind a clip, under the two-person rule.

One privacy officer requests with a written reason; a *different* privacy officer approves (or
denies); only then may the requester view the identity — once, within ``view_window_s`` of the
approval. A request nobody decides lapses after ``request_ttl_s``. Every step is audited with the
household id. The identity is read through :func:`overheard.identity.service.open_identity`.
The reason and the decision note are sealed with the clip's texts (:mod:`overheard.privacy.notes`):
they go when the household deletes the clip; the audit log keeps who asked, who decided and when.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..accounts.models import Role, StaffUser
from ..accounts.rbac import StaffPrincipal
from ..config import settings_section
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..identity.service import IdentityView, open_identity
from ..keys import KeyRing
from ..privacy import notes
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from ..review.models import ReviewTask
from .models import (
    NOTE_MAX_CHARS,
    OPEN_STATES,
    REASON_MAX_CHARS,
    ReidentifyRequest,
    State,
)

ID_BYTES = 12


@dataclass(frozen=True)
class ReidentifyPolicy:
    """Time limits of the two-person rule (settings ``reidentify_<field>``)."""

    request_ttl_s: float = 86_400.0
    """How long a request waits for a second officer before it lapses, seconds."""
    view_window_s: float = 600.0
    """How long after approval the requester may view the identity (once), seconds."""
    min_reason_chars: int = 30
    """Shortest written reason accepted, characters."""

    @classmethod
    def from_settings(cls, settings: object) -> ReidentifyPolicy:
        """The policy from ``settings.reidentify_<field>`` where set, defaults elsewhere."""
        return settings_section(cls, settings, "reidentify_")


class NotYours(Forbidden):
    """The two-person rule forbids this step to this officer."""

    code = "two_person_rule"


class RequestLapsed(Conflict):
    """The request or its viewing window ran out."""

    status = 410
    code = "reidentify_lapsed"


class ClipDeleted(Conflict):
    """The household deleted the clip: the request is withdrawn."""

    code = "clip_deleted"


def _officer(session: Session, who: StaffPrincipal) -> StaffUser:
    # Checked here as well as on the route: the dangerous corner does not trust its callers.
    row = session.get(StaffUser, who.id)
    if row is None or row.disabled_at is not None or row.role != Role.PRIVACY_OFFICER.value:
        raise NotYours("only an active privacy officer may do this")
    return row


def _audit(
    session: Session, req: ReidentifyRequest, who: StaffPrincipal, action: str, now: datetime
) -> None:
    audit.append(
        session,
        actor=who.pseudonym,
        action=action,
        subject=req.id,
        household_id=req.household_id,
        reason=req.state,
        details={"task": req.task_pseudonym, "recording": req.recording_id},
        now=now,
    )


def request(
    session: Session,
    gate: ContentGate,
    who: StaffPrincipal,
    *,
    task_pseudonym: str,
    reason: str,
    policy: ReidentifyPolicy,
    now: datetime,
) -> ReidentifyRequest:
    """Ask to re-identify the household of clip ``task_pseudonym``; a second officer must approve."""
    _officer(session, who)
    reason = reason.strip()
    if len(reason) < policy.min_reason_chars or len(reason) > REASON_MAX_CHARS:
        raise BadRequest(
            f"write a reason of {policy.min_reason_chars}–{REASON_MAX_CHARS} characters",
            code="reason_required",
        )
    task = session.scalars(
        select(ReviewTask).where(ReviewTask.pseudonym == task_pseudonym.strip())
    ).first()
    recording = _clip(session, task.recording_id) if task and task.recording_id else None
    if task is None or recording is None:
        raise NotFound("no clip with that pseudonym (or it was deleted)", code="clip_not_found")
    req = ReidentifyRequest(
        id=secrets.token_hex(ID_BYTES),
        task_pseudonym=task.pseudonym,
        recording_id=recording.id,
        household_id=recording.household_id,
        requested_by_id=who.id,
        requested_by=who.pseudonym,
        reason="",
        requested_at=now,
    )
    session.add(req)
    notes.write(gate, session, recording, notes.reason_kind(req.id), reason)
    session.flush()
    _audit(session, req, who, "reidentify.request", now)
    return req


def _lapse(
    session: Session, req: ReidentifyRequest, policy: ReidentifyPolicy, now: datetime
) -> bool:
    """Mark ``req`` lapsed if its time ran out; True if it did."""
    waited_out = req.state == State.PENDING and now > req.requested_at + timedelta(
        seconds=policy.request_ttl_s
    )
    unviewed = req.state == State.APPROVED and req.view_until is not None and now > req.view_until
    if waited_out or unviewed:
        req.state = State.LAPSED.value
        session.flush()
    return waited_out or unviewed


def _clip(session: Session, recording_id: str) -> Recording | None:
    """The recording (None once deleted), held ``FOR SHARE`` to the commit: a deletion, which locks
    it first, either committed before, or waits until this request or view is done."""
    return session.get(Recording, recording_id, with_for_update={"read": True})


def _withdrawn(session: Session, req: ReidentifyRequest) -> bool:
    """Mark ``req`` withdrawn if it is still open and the household has deleted its clip (the
    reason to ask is gone, and so is the link from the clip to its household); True if it is."""
    if req.state in OPEN_STATES and _clip(session, req.recording_id) is None:
        req.state = State.WITHDRAWN.value
        session.flush()
    return req.state == State.WITHDRAWN


def _get(session: Session, request_id: str) -> ReidentifyRequest:
    req = session.get(ReidentifyRequest, request_id, with_for_update=True)
    if req is None:
        raise NotFound("no such re-identification request", code="request_not_found")
    return req


def decide(
    session: Session,
    gate: ContentGate,
    who: StaffPrincipal,
    request_id: str,
    *,
    approve: bool,
    note: str = "",
    policy: ReidentifyPolicy,
    now: datetime,
) -> ReidentifyRequest:
    """A second officer approves or denies a pending request; never the requester."""
    _officer(session, who)
    req = _get(session, request_id)
    if req.requested_by_id == who.id:
        raise NotYours("a second privacy officer must decide on your request")
    if _withdrawn(session, req):
        raise ClipDeleted("the clip was deleted: this request is withdrawn")
    if _lapse(session, req, policy, now):
        _audit(session, req, who, "reidentify.lapse", now)
        return req
    if req.state != State.PENDING:
        raise Conflict("this request was already decided", code="already_decided")
    req.state = (State.APPROVED if approve else State.DENIED).value
    req.decided_by_id, req.decided_by, req.decided_at = who.id, who.pseudonym, now
    recording = _clip(session, req.recording_id)
    assert recording is not None  # not withdrawn, above, and held to the commit
    notes.write(
        gate, session, recording, notes.decision_kind(req.id), note.strip()[:NOTE_MAX_CHARS]
    )
    if approve:
        req.view_until = now + timedelta(seconds=policy.view_window_s)
    session.flush()
    _audit(session, req, who, "reidentify.approve" if approve else "reidentify.deny", now)
    return req


def view(
    session: Session,
    keyring: KeyRing,
    who: StaffPrincipal,
    request_id: str,
    *,
    policy: ReidentifyPolicy,
    now: datetime,
) -> IdentityView:
    """The household's identity, for the requester of an approved request, once, in its window."""
    _officer(session, who)
    req = _get(session, request_id)
    if req.requested_by_id != who.id:
        raise NotYours("only the officer who asked may view, once it is approved")
    if _withdrawn(session, req):
        raise ClipDeleted("the clip was deleted: this request is withdrawn")
    if _lapse(session, req, policy, now):
        _audit(session, req, who, "reidentify.lapse", now)
        raise RequestLapsed("the viewing window has passed; ask again")
    if req.state != State.APPROVED:
        raise Conflict(f"this request is {req.state}, not approved", code="not_approved")
    identity = open_identity(session, keyring, req.household_id)
    req.state, req.viewed_at = State.VIEWED.value, now
    session.flush()
    _audit(session, req, who, "reidentify.view", now)
    return identity


def requests(session: Session, policy: ReidentifyPolicy, now: datetime) -> list[ReidentifyRequest]:
    """Every request, newest first, with lapsed and withdrawn ones marked."""
    rows = list(
        session.scalars(select(ReidentifyRequest).order_by(ReidentifyRequest.requested_at.desc()))
    )
    for row in rows:
        if not _withdrawn(session, row):
            _lapse(session, row, policy, now)
    return rows


def written(
    session: Session, keyring: KeyRing, rows: list[ReidentifyRequest]
) -> dict[str, tuple[str, str | None]]:
    """Each request's reason and decision note (None: none, or its clip was deleted) by request
    id, opened; the reason of a request whose clip the household deleted reads ``notes.REMOVED``."""
    kinds = [k for r in rows for k in (notes.reason_kind(r.id), notes.decision_kind(r.id))]
    opened = notes.read(session, keyring, kinds)
    out: dict[str, tuple[str, str | None]] = {}
    for r in rows:
        reason = opened.get(notes.reason_kind(r.id)) or r.reason or notes.REMOVED
        out[r.id] = (reason, opened.get(notes.decision_kind(r.id)) or r.decision_note)
    return out
