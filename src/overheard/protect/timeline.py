"""The recognised words of a clip as staff may see them: timed, with confidence, PII redacted,
in the plain form the redacted hypothesis is shown in (``overheard.protect._plain``).

A word that overlaps a PII span of the hypothesis text is not shown (found in as many passes as
``redact`` makes over the hypothesis): the run of words inside one
span becomes a single ``[ENTITY]`` word covering their time span (the redaction span in seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._plain import plain, plain_spans
from .redact import MAX_PASSES, Span, find_pii, tagged_name_spans

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


def staff_words(raw: str | None) -> tuple[StaffWord, ...]:
    """The timed words of a sealed hypothesis (JSON with ``words``), PII redacted: the rules' PII
    and the names the pipeline's tagger stored with it (see :func:`with_tagged_names`).

    Redaction repeats as :func:`~overheard.protect.redact.redact` does: a pass over the words as
    shown so far (runs already redacted read ``[ENTITY]``), until no span covers a word still shown,
    so the timeline hides every word the redacted hypothesis hides.
    """
    body = _body(raw)
    words = _words(body)
    if not words:
        return ()
    names = _stored_names(body, "names" if _words_text(body) == body.get("text") else "word_names")
    # In plain form, as ``redact`` shows the hypothesis: mapped a character at a time, so the
    # plain words joined are the plain form of the words joined, and the stored names move over.
    names = plain_spans(names, plain(_words_text(body))[1])
    out = [
        StaffWord(
            plain(str(w["text"]))[0], float(w["start_s"]), float(w["end_s"]), float(w["confidence"])
        )
        for w in words
    ]
    for _ in range(MAX_PASSES):
        text, offsets = _joined(w.text for w in out)
        spans = find_pii(text, names=names)
        names = []  # found in the words as stored, before any pass redacted some
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


def hypothesis_names(raw: str | None) -> list[tuple[int, int]]:
    """The tagger's names stored with a sealed hypothesis: character spans of its ``text``
    (none in a hypothesis sealed without them, which the rules alone redact)."""
    return _stored_names(_body(raw), "names")


def with_tagged_names(body: dict[str, Any]) -> dict[str, Any]:
    """A hypothesis (``text`` and ``words``) with the learned name tagger's names, found once when
    it is sealed so that serving it needs no encoder: ``names``, spans of ``text``, and, only when
    the words joined by spaces read otherwise, ``word_names``, spans of that joined text."""
    text = str(body.get("text") or "")
    out = {**body, "names": [list(span) for span in tagged_name_spans(text)]}
    joined = _words_text(body)
    if joined and joined != text:
        out["word_names"] = [list(span) for span in tagged_name_spans(joined)]
    return out


def _body(raw: str | None) -> dict[str, Any]:
    try:
        body = json.loads(raw or "")
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _stored_names(body: dict[str, Any], key: str) -> list[tuple[int, int]]:
    spans = body.get(key)
    if not isinstance(spans, list):
        return []
    return [
        (int(span[0]), int(span[1]))
        for span in spans
        if isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)
    ]


def _words(body: dict[str, Any]) -> list[dict[str, Any]]:
    words = body.get("words")
    if not isinstance(words, list):
        return []
    return [w for w in words if isinstance(w, dict) and str(w.get("text", "")).strip()]


def _words_text(body: dict[str, Any]) -> str:
    """The words shown on the timeline joined as :func:`staff_words` reads them."""
    return _joined(str(w["text"]) for w in _words(body))[0]


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
