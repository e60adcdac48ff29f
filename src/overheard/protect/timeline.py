"""The recognised words of a clip as staff may see them: timed, with confidence, PII redacted.

A word that overlaps a PII span of the hypothesis text is not shown (found in as many passes as
``redact`` makes over the hypothesis): the run of words inside one
span becomes a single ``[ENTITY]`` word covering their time span (the redaction span in seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .redact import MAX_PASSES, Span, find_pii

LOW_CONFIDENCE_BELOW = 0.5
"""Words the recogniser was less sure of than this are marked for the reviewer."""


@dataclass(frozen=True)
class StaffWord:
    """One word on the reviewer's timeline."""

    text: str
    start_s: float
    """Seconds from the start of the clip."""
    end_s: float
    """Seconds from the start of the clip."""
    confidence: float
    """Recogniser's word probability, 0..1 (the lowest of a redacted run)."""
    redacted: bool = False

    @property
    def low(self) -> bool:
        """Whether the recogniser was unsure of it."""
        return self.confidence < LOW_CONFIDENCE_BELOW


def staff_words(raw: str | None, *, tagger: bool = False) -> tuple[StaffWord, ...]:
    """The timed words of a sealed hypothesis (JSON with ``words``), PII redacted (``tagger``: as
    for :func:`~overheard.protect.redact.find_pii`).

    Redaction repeats as :func:`~overheard.protect.redact.redact` does: a pass over the words as
    shown so far (runs already redacted read ``[ENTITY]``), until no span covers a word still shown,
    so the timeline hides every word the redacted hypothesis hides.
    """
    words = _words(raw)
    if not words:
        return ()
    out = [
        StaffWord(str(w["text"]), float(w["start_s"]), float(w["end_s"]), float(w["confidence"]))
        for w in words
    ]
    for _ in range(MAX_PASSES):
        text, offsets = _joined(w.text for w in out)
        spans = find_pii(text, tagger=tagger)
        if not any(
            not w.redacted and _covering(spans, start, end) is not None
            for w, (start, end) in zip(out, offsets, strict=True)
        ):
            break
        out = _redacted_once(out, offsets, spans)
    return tuple(out)


def _redacted_once(
    words: list[StaffWord], offsets: list[tuple[int, int]], spans: list[Span]
) -> list[StaffWord]:
    """One pass: each run of words inside one span becomes a single ``[ENTITY]`` word."""
    out: list[StaffWord] = []
    previous: Span | None = None
    for word, (start, end) in zip(words, offsets, strict=True):
        span = _covering(spans, start, end)
        if span is None:
            out.append(word)
        elif span == previous:
            out.append(_extended(out.pop(), word))
        else:
            out.append(
                StaffWord(f"[{span.entity}]", word.start_s, word.end_s, word.confidence, True)
            )
        previous = span
    return out


def _words(raw: str | None) -> list[dict[str, Any]]:
    try:
        body = json.loads(raw or "")
    except json.JSONDecodeError:
        return []
    words = body.get("words") if isinstance(body, dict) else None
    if not isinstance(words, list):
        return []
    return [w for w in words if isinstance(w, dict) and str(w.get("text", "")).strip()]


def _joined(texts: Any) -> tuple[str, list[tuple[int, int]]]:
    pieces, offsets, cursor = [], [], 0
    for text in texts:
        pieces.append(text)
        offsets.append((cursor, cursor + len(text)))
        cursor += len(text) + 1
    return " ".join(pieces), offsets


def _covering(spans: list[Span], start: int, end: int) -> Span | None:
    return next((s for s in spans if s.start < end and start < s.end), None)


def _extended(head: StaffWord, word: StaffWord) -> StaffWord:
    """A redacted run grown by one more word of the same PII span."""
    return StaffWord(
        head.text, head.start_s, word.end_s, min(head.confidence, word.confidence), True
    )
