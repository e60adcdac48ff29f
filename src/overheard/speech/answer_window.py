"""The answer window: a clip without the wake word, used only as the answer to a spoken question.

While a voice-deletion question waits for a device that was told it
(:func:`overheard.recordings.voice_prompt.open_question`, until its ``answer_by``), a clip of that
device in which no wake word was heard is not only accidental: it is recognised once, in memory, and
what it says to the question (yes, no, unclear or other) is acted on as a spoken answer. Nothing else
of it is kept: its transcript and intent are never sealed, it is never sampled for review, its status
stays ``accidental`` (reason :data:`ANSWER_ONLY`) and its audio purge is scheduled at once, whatever
``accidental_retention_s`` says. The use of the window is audited (:data:`WINDOW_USED`) in the same
transaction. A wake-less clip of any other device, of another household, or captured outside the
window stays an ordinary accidental wake, never recognised. docs/privacy-model.md says what this
stops and what it does not.
"""

from __future__ import annotations

from datetime import datetime

from .. import audit
from ..db import transaction
from ..platform import Platform
from ..recordings import voice_delete
from ..recordings.models import ANSWER_ONLY, Recording, Status
from ..recordings.purging import ACCIDENTAL_PURGE, schedule_audio_purge
from ..recordings.voice_prompt import Prompt, open_question
from .guard import Answer
from .wake import WakeResult

ACTOR = "system:pipeline"
"""Who the audit events name: the pipeline."""
WINDOW_USED = "voice_delete.answer_window"
"""Audit action: a clip without the wake word was recognised only as the answer to a question."""


def question_for(platform: Platform, recording_id: str) -> Prompt | None:
    """The question waiting for the recording's device when it was captured (None: none)."""
    with platform.sessions() as session:
        rec = session.get(Recording, recording_id)
        return open_question(session, rec) if rec is not None else None


def keep_as_answer(
    platform: Platform,
    recording_id: str,
    question: Prompt,
    said: Answer,
    speech_s: float,
    wake: WakeResult | None,
    when: datetime,
) -> Recording | None:
    """Store a wake-less clip as an accidental wake whose audio goes at once, audit that it was
    heard only as the answer ``said`` to ``question``, and act on that answer, in one transaction;
    the recording (None: deleted meanwhile)."""
    with transaction(platform.sessions) as session:
        rec = session.get(Recording, recording_id)
        if rec is None:
            return None
        reply = voice_delete.reply_to(session, rec, said)  # its lock before the audit lock
        rec.status, rec.status_reason = Status.ACCIDENTAL.value, ANSWER_ONLY
        rec.wake_score = wake.score if wake is not None else None
        rec.speech_s, rec.processed_at = round(speech_s, 3), when
        purge = bool(schedule_audio_purge(session, rec, reason=ACCIDENTAL_PURGE, now=when))
        audit.append(
            session,
            actor=ACTOR,
            action=WINDOW_USED,
            subject=question.subject,
            household_id=rec.household_id,
            reason=said,
            now=when,
            details={"answer": rec.id, "about": question.about, "answer_by": _iso(question)},
        )
        audit.append(
            session,
            actor=ACTOR,
            action=f"pipeline.{Status.ACCIDENTAL.value}",
            subject=rec.id,
            household_id=rec.household_id,
            now=when,
            details={
                "wake_score": None if wake is None else round(wake.score, 4),
                "answer_only": True,
                "audio_purged": False,
                "audio_purge_scheduled": purge,
            },
        )
        voice_delete.act_on_reply(platform, session, rec, reply, now=when)
        session.flush()
        session.expunge(rec)
        return rec


def _iso(question: Prompt) -> str:
    return question.answer_by.isoformat()
