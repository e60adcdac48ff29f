"""The emergency queue: reports raised by annotators, handled by privacy officers under time limits.

A privacy officer opens a *case* on a report: time-boxed access, for that officer only, to the clip
(disguised and watermarked, like any serve) and to the annotator's redacted transcript. They
acknowledge, escalate and close the report with a note; every step is audited with the household id.
A note is sealed with the clip's texts (:mod:`.notes`) and goes when the household deletes the clip.
The written policy is ``docs/policies/emergency.md``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..config import settings_section
from ..errors import BadRequest, Conflict, NotFound
from ..households import Household
from ..keys import KeyRing
from ..platform import Platform
from ..protect.serving import (
    Grant,
    ServedClip,
    StaffText,
    Target,
    drop_renditions,
    serve_clip,
    serve_text,
)
from ..recordings import voice_delete
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from ..review.flags import in_emergency, is_excluded
from ..review.models import Annotation, EmergencyReport, ReviewTask
from ..review.queue import refuse_unheard
from . import notes
from .models import NOTE_MAX_CHARS, EmergencyAction, PrivacyCase

ID_BYTES = 12


class ReportState(StrEnum):
    """Where an emergency report is (``open`` is what review files)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CLOSED = "closed"


ACTIVE_STATES = (
    ReportState.OPEN.value,
    ReportState.ACKNOWLEDGED.value,
    ReportState.ESCALATED.value,
)
ACTIONS = {
    "acknowledge": ReportState.ACKNOWLEDGED,
    "escalate": ReportState.ESCALATED,
    "close": ReportState.CLOSED,
}
"""What an officer may do to a report, and the state it leaves it in."""


@dataclass(frozen=True)
class EmergencyPolicy:
    """Time limits of the emergency policy (settings ``emergency_<field>``)."""

    case_s: float = 900.0
    """How long a case gives its officer access to the clip and transcript, seconds."""
    ack_within_s: float = 3600.0
    """A report not acknowledged this long after the flag is overdue, seconds."""
    close_within_s: float = 86_400.0
    """A report not closed this long after the flag is overdue, seconds."""

    @classmethod
    def from_settings(cls, settings: object) -> EmergencyPolicy:
        """The policy from ``settings.emergency_<field>`` where set, defaults elsewhere."""
        return settings_section(cls, settings, "emergency_")


@dataclass(frozen=True)
class EmergencyItem:
    """A report as the privacy officer's queue shows it (no household, device or recording id)."""

    report_id: str
    task_pseudonym: str
    flagged_at: datetime
    state: str
    reported_by: str
    recording_deleted: bool
    ack_due: datetime
    close_due: datetime
    overdue: bool


def _pseudonym(session: Session, report: EmergencyReport) -> str:
    annotation = session.get(Annotation, report.annotation_id)
    task = session.get(ReviewTask, annotation.task_id) if annotation else None
    return task.pseudonym if task else "(deleted)"


def _item(
    session: Session, report: EmergencyReport, policy: EmergencyPolicy, now: datetime
) -> EmergencyItem:
    ack_due = report.at + timedelta(seconds=policy.ack_within_s)
    close_due = report.at + timedelta(seconds=policy.close_within_s)
    late_ack = report.state == ReportState.OPEN and now > ack_due
    return EmergencyItem(
        report.id,
        _pseudonym(session, report),
        report.at,
        report.state,
        report.reported_by,
        report.recording_deleted_at is not None,
        ack_due,
        close_due,
        late_ack or now > close_due,
    )


def queue(session: Session, policy: EmergencyPolicy, now: datetime) -> list[EmergencyItem]:
    """Reports not yet closed, oldest first."""
    rows = session.scalars(
        select(EmergencyReport)
        .where(EmergencyReport.state.in_(ACTIVE_STATES))
        .order_by(EmergencyReport.at)
    )
    return [_item(session, r, policy, now) for r in rows]


def overdue(session: Session, policy: EmergencyPolicy, now: datetime) -> list[EmergencyItem]:
    """Reports past a time limit: to escalate (see the policy)."""
    return [item for item in queue(session, policy, now) if item.overdue]


def _report(session: Session, report_id: str) -> EmergencyReport:
    report = session.get(EmergencyReport, report_id, with_for_update=True)
    if report is None:
        raise NotFound("no such emergency report", code="report_not_found")
    return report


def _household_of(session: Session, report: EmergencyReport) -> str | None:
    recording = session.get(Recording, report.recording_id)
    return recording.household_id if recording else None


@dataclass(frozen=True)
class ActionView:
    """One step taken on a report, with its note opened (empty: none, or the clip was deleted)."""

    at: datetime
    officer: str
    action: str
    note: str


def _log(
    session: Session, report: EmergencyReport, officer: str, action: str, now: datetime
) -> EmergencyAction:
    row = EmergencyAction(report_id=report.id, officer=officer, action=action, at=now)
    session.add(row)
    audit.append(
        session,
        actor=officer,
        action=f"privacy.emergency.{action}",
        subject=report.recording_id,
        household_id=_household_of(session, report),
        reason=report.state,
        details={"report": report.id},
        now=now,
    )
    return row


def _refuse_if_deletion_pending(session: Session, recording: Recording, now: datetime) -> None:
    """409 ``excluded`` while a voice deletion that may name ``recording`` is pending, as a lead's
    actions answer: the household asked to delete it, so nobody hears it meanwhile."""
    if voice_delete.pending_near(session, recording, now):
        raise Conflict("the household asked by voice to delete this clip", code="excluded")


def open_case(
    session: Session, report_id: str, officer: str, policy: EmergencyPolicy, now: datetime
) -> PrivacyCase:
    """Time-boxed access for ``officer`` to a report's clip (their live case if they have one)."""
    report = _report(session, report_id)
    recording = session.get(Recording, report.recording_id)
    if report.state == ReportState.CLOSED or report.recording_deleted_at or recording is None:
        raise Conflict(
            "this report is closed or its recording was deleted", code="case_unavailable"
        )
    _refuse_if_deletion_pending(session, recording, now)
    live = session.scalars(
        select(PrivacyCase).where(
            PrivacyCase.report_id == report.id,
            PrivacyCase.officer == officer,
            PrivacyCase.closed_at.is_(None),
            PrivacyCase.expires_at >= now,
        )
    ).first()
    if live is not None:
        return live
    case = PrivacyCase(
        id=secrets.token_hex(ID_BYTES),
        report_id=report.id,
        officer=officer,
        opened_at=now,
        expires_at=now + timedelta(seconds=policy.case_s),
    )
    session.add(case)
    _log(session, report, officer, "open_case", now)
    session.flush()
    return case


def case_of(session: Session, case_id: str, officer: str, now: datetime) -> PrivacyCase:
    """The officer's live case; NotFound for anyone else's, a closed or an expired one."""
    case = session.get(PrivacyCase, case_id)
    if (
        case is None
        or case.officer != officer
        or case.closed_at is not None
        or now > case.expires_at
    ):
        raise NotFound("no such open case (cases expire; open a new one)", code="case_not_found")
    return case


def case_grant(case_id: str, officer: str) -> Grant:
    """The grant of a live case: its report's clip, and the flagging annotator's transcript."""

    def resolve(session: Session, now: datetime) -> Target:
        case = case_of(session, case_id, officer, now)
        report = session.get_one(EmergencyReport, case.report_id)
        recording = session.get(Recording, report.recording_id)
        household = session.get(Household, recording.household_id) if recording else None
        if report.state == ReportState.CLOSED or recording is None or household is None:
            raise NotFound("this clip is no longer available", code="case_not_found")
        if not household.human_review:
            raise NotFound("the household withdrew consent to review", code="consent_withdrawn")
        _refuse_if_deletion_pending(session, recording, now)
        refuse_unheard(session, recording.household_id, recording.id)
        return Target(recording, _pseudonym(session, report), (report.annotation_id,))

    return Grant("case", case_id, officer, resolve)


def clip_for_case(platform: Platform, *, case_id: str, officer: str, now: datetime) -> ServedClip:
    """The case's clip, disguised and watermarked like every serve, audited."""
    return serve_clip(platform, case_grant(case_id, officer), now=now)


def text_for_case(platform: Platform, *, case_id: str, officer: str, now: datetime) -> StaffText:
    """The redacted hypothesis and the flagging annotator's redacted transcript, audited."""
    return serve_text(platform, case_grant(case_id, officer), now=now)


def act(
    session: Session,
    gate: ContentGate,
    report_id: str,
    officer: str,
    action: str,
    note: str,
    now: datetime,
) -> EmergencyReport:
    """Acknowledge, escalate or close a report with a note; closing ends every case on it. Once
    the household deleted the clip, no note about it is kept: the step is taken without one."""
    if action not in ACTIONS:
        raise BadRequest(f"unknown action {action!r}", code="bad_action")
    note = note.strip()
    if len(note) > NOTE_MAX_CHARS:
        raise BadRequest(f"a note is at most {NOTE_MAX_CHARS} characters", code="note_required")
    report = _report(session, report_id)
    if report.state == ReportState.CLOSED:
        raise Conflict("this report is already closed", code="report_closed")
    # Held to the commit, like a re-identification's: a deletion waits, or it came first.
    recording = session.get(Recording, report.recording_id, with_for_update={"read": True})
    if recording is None and note:
        raise BadRequest(
            f"the household deleted this clip and no note about it is kept: {action} without one",
            code="note_not_kept",
        )
    if recording is not None and action != "acknowledge" and not note:
        raise BadRequest(
            f"a note of 1–{NOTE_MAX_CHARS} characters is needed to {action}", code="note_required"
        )
    report.state = ACTIONS[action].value
    if action == "close":
        for case in session.scalars(
            select(PrivacyCase).where(
                PrivacyCase.report_id == report.id, PrivacyCase.closed_at.is_(None)
            )
        ):
            case.closed_at = now
    row = _log(session, report, officer, action, now)
    session.flush()
    if recording is not None:
        notes.write(gate, session, recording, notes.action_kind(row.id), note)
    if action == "close":
        _drop_case_audio(session, report.recording_id)
    return report


def _drop_case_audio(session: Session, recording_id: str) -> None:
    """A ``sensitive`` clip keeps a disguised rendition only while a report not yet closed names
    it (made again for the officers' cases); the last one closed removes it."""
    if is_excluded(session, recording_id) and not in_emergency(session, recording_id):
        drop_renditions(session, [recording_id])


def actions_of(session: Session, keyring: KeyRing, report_id: str) -> list[ActionView]:
    """What was done about a report, oldest first, with the notes opened."""
    rows = list(
        session.scalars(
            select(EmergencyAction)
            .where(EmergencyAction.report_id == report_id)
            .order_by(EmergencyAction.at, EmergencyAction.id)
        )
    )
    opened = notes.read(session, keyring, [notes.action_kind(r.id) for r in rows])
    return [
        ActionView(r.at, r.officer, r.action, opened.get(notes.action_kind(r.id)) or r.note)
        for r in rows
    ]
