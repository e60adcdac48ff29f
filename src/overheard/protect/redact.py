"""PII redaction of every text staff read: names, phones, e-mails, addresses, postcodes, card,
account and IBAN numbers, dates of birth become typed placeholders such as ``[PHONE]``.

Works offline on written text and on lowercase ASR output with spoken numbers
(``oh seven seven double oh nine hundred``) and spoken e-mails (``john at example dot com``).
Method, lexicon sources and measured accuracy: ``docs/models/redaction.md``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from overheard.protect._dates import find_dates_of_birth
from overheard.protect._name_tagger import tagged_names
from overheard.protect._names import find_names, names_before_emails
from overheard.protect._places import find_addresses, find_postcodes
from overheard.protect._recognizers import (
    Found,
    find_account_ids,
    find_ibans,
    find_numbers,
    find_spoken_emails,
    find_written_emails,
)
from overheard.protect._tokens import tokenize

ENTITIES = ("NAME", "PHONE", "EMAIL", "ADDRESS", "POSTCODE", "CARD", "ACCOUNT", "IBAN", "DOB")
MAX_PASSES = 8
"""Redaction repeats until nothing more is found; each pass only shrinks the unredacted text."""


@dataclass(frozen=True)
class Span:
    """A piece of PII in a text."""

    start: int
    """Character offset of the first character."""
    end: int
    """Character offset just past the last character."""
    entity: str
    """One of ``ENTITIES``, e.g. ``"NAME"``."""


def find_pii(text: str, *, tagger: bool = False) -> list[Span]:
    """Non-overlapping PII spans in text order (runs in time linear in the text length).

    ``tagger=True``: the learned tagger's names are added to the rules' (setting
    ``redaction_name_tagger``; it loads the MiniLM encoder, about 15 ms of CPU a text)."""
    tokens = tokenize(text)
    found = [
        *find_written_emails(tokens),
        *find_spoken_emails(tokens),
        *find_ibans(tokens),
        *find_account_ids(tokens),
        *find_dates_of_birth(tokens),
        *find_postcodes(tokens),
        *find_addresses(tokens),
    ]
    starts = [t.start for t in tokens]
    found += find_numbers(tokens, _covered_tokens(starts, found))
    taken = _covered_tokens(starts, found)
    emails = [(start, end) for start, end, entity in found if entity == "EMAIL"]
    names = [
        (start, end)
        for start, end in [*find_names(text, tokens), *names_before_emails(tokens, emails)]
        if not any(k in taken for k in _tokens_in(starts, start, end))
    ]
    names += (
        (start, end)
        for start, end in (tagged_names(text, tokens, names) if tagger else [])
        if not any(k in taken for k in _tokens_in(starts, start, end))
    )
    found += ((start, end, "NAME") for start, end in names)
    return merge(Span(start, end, entity) for start, end, entity in found)


WARM_UP_TEXT = "call John Smith at 12 Oak Street, Springfield, born 3 May 1990, on 555 0100"
"""A text that makes redaction load every table it reads (names, places, street types, dates)."""


def warm_up(*, tagger: bool = False) -> None:
    """Load the tables redaction reads once per process (0.1–0.5 s of CPU), and with ``tagger`` the
    name tagger's encoder (about 2 s), so that the first text a web process redacts, a reviewer's,
    does not wait for them."""
    redact(WARM_UP_TEXT, tagger=tagger)


def redact(text: str, *, tagger: bool = False) -> str:
    """The text with every PII span replaced by ``[ENTITY]``; ``redact(redact(x)) == redact(x)``.

    ``tagger``: as for :func:`find_pii`."""
    for _ in range(MAX_PASSES):
        redacted = _redact_once(text, tagger)
        if redacted == text:
            break
        text = redacted
    return text


def _redact_once(text: str, tagger: bool) -> str:
    """One replacement pass over the spans ``find_pii`` reports."""
    pieces: list[str] = []
    cursor = 0
    for span in find_pii(text, tagger=tagger):
        pieces += [text[cursor : span.start], f"[{span.entity}]"]
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans joined into one, labelled with the entity of its longest part."""
    merged: list[Span] = []
    longest: list[int] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            head = merged[-1]
            entity = span.entity if span.end - span.start > longest[-1] else head.entity
            longest[-1] = max(longest[-1], span.end - span.start)
            merged[-1] = Span(head.start, max(head.end, span.end), entity)
            continue
        merged.append(span)
        longest.append(span.end - span.start)
    return merged


def _covered_tokens(starts: list[int], found: list[Found]) -> set[int]:
    """Indexes of tokens inside any found span, given every token's start offset."""
    covered: set[int] = set()
    for start, end, _ in found:
        covered.update(_tokens_in(starts, start, end))
    return covered


def _tokens_in(starts: list[int], start: int, end: int) -> range:
    """Indexes of the tokens that begin within [start, end), given sorted token starts."""
    return range(bisect_left(starts, start), bisect_right(starts, end - 1))
