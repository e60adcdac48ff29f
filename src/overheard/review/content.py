"""What an annotation says, and the only way it is stored or read: sealed through the content gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ..errors import BadRequest, NotFound
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from .policy import Flag

MAX_TRANSCRIPT_CHARS = 2000
MAX_INTENT_CHARS = 64
MAX_COMMENT_CHARS = 1000
FLAG_NAMES = frozenset(f.value for f in Flag)


@dataclass(frozen=True)
class AnnotationInput:
    """An annotator's answer: corrected transcript, intent label, and flags."""

    transcript: str
    intent: str | None = None
    flags: frozenset[Flag] = field(default_factory=frozenset)
    comment: str = ""
    """A note for the lead (sealed with the answer, like the transcript)."""

    def __post_init__(self) -> None:
        if len(self.transcript) > MAX_TRANSCRIPT_CHARS:
            raise BadRequest("transcript too long", code="transcript_too_long")
        if len(self.comment) > MAX_COMMENT_CHARS:
            raise BadRequest("comment too long", code="comment_too_long")
        if self.intent is not None and len(self.intent) > MAX_INTENT_CHARS:
            raise BadRequest("intent label too long", code="intent_too_long")
        unknown = {str(f) for f in self.flags} - FLAG_NAMES
        if unknown:
            raise BadRequest(f"unknown flags {sorted(unknown)}", code="bad_flag")
        object.__setattr__(self, "flags", frozenset(Flag(f) for f in self.flags))


def annotation_kind(annotation_id: str) -> str:
    """The sealed-text kind of an annotation's content."""
    return f"annotation:{annotation_id}"


def gold_kind(gold_id: str) -> str:
    """The sealed-text kind of a gold answer."""
    return f"gold:{gold_id}"


def _encode(answer: AnnotationInput) -> str:
    body = {"transcript": answer.transcript, "intent": answer.intent}
    if answer.comment:
        body["comment"] = answer.comment
    return json.dumps(body)


def seal_answer(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    kind: str,
    answer: AnnotationInput,
    *,
    new: bool = False,
) -> None:
    """Seal the transcript and intent of ``answer`` under the household key (flags stay outside).

    With ``new`` the ``kind`` is one no text of ``recording`` has yet (a fresh annotation's): the
    sealed text is written at the session's next flush (``ContentGate.seal_new_text``).
    """
    if new:
        gate.seal_new_text(session, recording, kind, _encode(answer))
    else:
        gate.seal_text(session, recording, kind, _encode(answer))


def open_answer(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    kind: str,
    *,
    actor: str,
    purpose: str,
) -> AnnotationInput:
    """Open a sealed answer through the gate (audited); NotFound if there is none."""
    raw = gate.open_text(session, recording, kind, actor=actor, purpose=purpose)
    if raw is None:
        raise NotFound("no such annotation content", code="annotation_not_found")
    body = json.loads(raw)
    return AnnotationInput(
        transcript=body["transcript"], intent=body["intent"], comment=body.get("comment", "")
    )
