"""What the server waits for from a device: the spoken question of a voice deletion.

A deletion held for a spoken yes (:func:`overheard.recordings.voice_delete.ask`) is asked by the
device that heard the command; asked once more after an unclear answer
(:func:`~overheard.recordings.voice_delete.reask`), by the device that heard that answer. That device,
and no other (not even one of the same household), learns the words to say and the deadline from
the status of the recording that prompted them (``GET /api/v1/utterances/{id}``, ``prompt``) until
the question is answered or its deadline passes. A clear no (:func:`~overheard.recordings.voice_delete.decline`)
ends the question at once; the device that heard the no is then told, on that recording's status and
for ``voice_delete_confirm_s`` after the no was processed, to say that nothing was deleted (kind
``declined``, no answer expected: ``answer_by`` is the no's own capture time). The first time a device
is told of a question or its acknowledgement, the audit log gets ``voice_delete.prompted`` (actor:
the device) in the same transaction as the read.

While a question waits for a device that was told it (:func:`open_question`), that device's next
recording may lack the wake word: the pipeline then uses it only as the answer
(docs/privacy-model.md, "The answer window").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import as_utc, transaction
from ..jobs import Job
from ..platform import Platform
from ..speech.questions import DECLINED, QUESTION, REASK, TOO_LATE
from .models import Recording
from .voice_delete import AWAITING, COMMANDS, REASKED
from .voice_delete import DECLINED as DECLINED_ACTION
from .voice_delete import TOO_LATE as TOO_LATE_ACTION

PROMPTED = "voice_delete.prompted"
"""Audit action: a device was told a question it is to speak."""
PromptKind = Literal["question", "reask", "declined", "too_late"]
WORDS = {"question": QUESTION, "reask": REASK, "declined": DECLINED, "too_late": TOO_LATE}
"""What the device says, per prompt kind and command."""
ACKNOWLEDGED: dict[str, PromptKind] = {DECLINED_ACTION: "declined", TOO_LATE_ACTION: "too_late"}
"""The prompt kind that acknowledges a no, per audit action: dropped, or too late to undo."""


@dataclass(frozen=True)
class Prompt:
    """A question one device is to speak, and until when its answer counts."""

    about: str
    """The recording that prompted it: the command (question), the unclear answer (re-ask) or the
    no (declined)."""
    command: str
    """The deletion waiting: ``delete_last`` or ``delete_today``."""
    kind: PromptKind
    answer_by: datetime
    """The latest capture time of an answer that counts (UTC); for ``declined``, the no's own."""
    subject: str
    """The command's recording id (the deletion job's subject)."""

    @property
    def say(self) -> str:
        """The words the device speaks."""
        return WORDS[self.kind][self.command]


def prompt_about(
    session: Session, rec: Recording, now: datetime, told_s: float = 0.0
) -> Prompt | None:
    """The question ``rec`` prompted that still waits for an answer at ``now``, or the
    acknowledgement of the no ``rec`` is, declined less than ``told_s`` seconds before (None: none)."""
    return _question_about(session, rec, now) or _declined_by(session, rec, now, told_s)


def _waiting(session: Session, household_id: str, at: datetime) -> list[Any]:
    """(kind, subject, deadline) of the household's deletion commands still waiting at ``at``."""
    return list(
        session.execute(
            select(Job.kind, Job.subject, Job.run_after)
            .join(Recording, Recording.id == Job.subject)
            .where(
                Job.state == AWAITING,
                Job.kind.in_(COMMANDS),
                Job.run_after >= at,
                Recording.household_id == household_id,
            )
        ).all()
    )


def _question_about(session: Session, rec: Recording, now: datetime) -> Prompt | None:
    """The question ``rec`` prompted that still waits for an answer at ``now``."""
    waiting = _waiting(session, rec.household_id, now)
    if not waiting:
        return None
    answers = _reasked_answers(session, [subject for _, subject, _ in waiting])
    for kind, subject, due in waiting:
        asker = answers.get(subject, subject)
        if asker == rec.id:
            said: PromptKind = "reask" if subject in answers else "question"
            return Prompt(rec.id, COMMANDS[kind], said, as_utc(due), subject)
    return None


def _declined_by(session: Session, rec: Recording, now: datetime, told_s: float) -> Prompt | None:
    """The deletion ``rec`` said no to, declined (or found too late to undo) within ``told_s``
    seconds before ``now``."""
    events = session.execute(
        select(
            audit.AuditEvent.action,
            audit.AuditEvent.subject,
            audit.AuditEvent.reason,
            audit.AuditEvent.details,
        ).where(
            audit.AuditEvent.action.in_(ACKNOWLEDGED),
            audit.AuditEvent.household_id == rec.household_id,
            audit.AuditEvent.at >= now - timedelta(seconds=told_s),
        )
    ).all()
    for action, subject, command, details in events:
        if details.get("answer") == rec.id and command in DECLINED:
            said = ACKNOWLEDGED[action]
            return Prompt(rec.id, str(command), said, as_utc(rec.captured_at), str(subject))
    return None


def _reasked_answers(session: Session, subjects: list[str]) -> dict[str, str]:
    """Per asked command, the unclear answer it was asked again about (absent: not asked again)."""
    events = session.execute(
        select(audit.AuditEvent.subject, audit.AuditEvent.details).where(
            audit.AuditEvent.action == REASKED, audit.AuditEvent.subject.in_(subjects)
        )
    ).all()
    return {str(subject): str(details.get("answer")) for subject, details in events}


def tell(platform: Platform, device_id: str, rec: Recording, now: datetime) -> Prompt | None:
    """The question ``rec`` prompted (or the acknowledgement of the no it is), for the device that
    recorded it (None for any other device); the first telling of each to the device is audited."""
    if rec.device_id != device_id:
        return None
    told_s = platform.settings.voice_delete_confirm_s
    with platform.readers() as session:
        prompt = prompt_about(session, rec, now, told_s)
    if prompt is None or _told(platform, device_id, prompt):
        return prompt
    with transaction(platform.sessions) as session:
        prompt = prompt_about(session, rec, now, told_s)
        if prompt is not None and not _told_in(session, device_id, prompt):
            audit.append(
                session,
                actor=device_id,
                action=PROMPTED,
                subject=prompt.subject,
                household_id=rec.household_id,
                reason=prompt.kind,
                details={"about": rec.id, "answer_by": prompt.answer_by.isoformat()},
                now=now,
            )
    return prompt


def _told(platform: Platform, device_id: str, prompt: Prompt) -> bool:
    with platform.readers() as session:
        return _told_in(session, device_id, prompt)


def _told_in(session: Session, device_id: str, prompt: Prompt) -> bool:
    """Whether the device was already told this question (this kind, about this recording)."""
    found = session.scalars(
        select(audit.AuditEvent.seq).where(
            audit.AuditEvent.action == PROMPTED,
            audit.AuditEvent.subject == prompt.subject,
            audit.AuditEvent.actor == device_id,
            audit.AuditEvent.reason == prompt.kind,
        )
    ).first()
    return found is not None


def open_question(session: Session, rec: Recording) -> Prompt | None:
    """The question waiting for ``rec``'s device when ``rec`` was captured (None: none): asked, or
    asked again, by a recording of that same device captured before ``rec``, its deadline not yet
    passed at ``rec``'s capture, and already told to that device (``voice_delete.prompted``)."""
    waiting = _waiting(session, rec.household_id, rec.captured_at)
    answers = _reasked_answers(session, [subject for _, subject, _ in waiting])
    for kind, subject, due in waiting:
        asker = session.get(Recording, answers.get(subject, subject))
        if asker is None or asker.device_id != rec.device_id:
            continue
        if asker.captured_at >= rec.captured_at:
            continue
        said: PromptKind = "reask" if subject in answers else "question"
        prompt = Prompt(asker.id, COMMANDS[kind], said, as_utc(due), subject)
        if _told_in(session, rec.device_id, prompt):
            return prompt
    return None
