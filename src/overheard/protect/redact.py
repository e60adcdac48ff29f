"""PII redaction of every text staff read: names, phones, e-mails, addresses, postcodes, card,
account and IBAN numbers, dates of birth become typed placeholders such as ``[PHONE]``.

Works offline on written text and on lowercase ASR output with spoken numbers
(``oh seven seven double oh nine hundred``) and spoken e-mails (``john at example dot com``).
Method, lexicon sources and measured accuracy: ``docs/models/redaction.md``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from overheard.expiry import ExpiryTimer
from overheard.protect._confusables import latin_lookalikes
from overheard.protect._dates import find_dates_of_birth
from overheard.protect._names import find_names, names_before_emails
from overheard.protect._places import _joined_suffix_street, find_addresses, find_postcodes
from overheard.protect._plain import plain, plain_spans
from overheard.protect._recognizers import (
    Found,
    find_account_ids,
    find_ibans,
    find_numbers,
    find_spoken_emails,
    find_written_emails,
)
from overheard.protect._street_words import fold
from overheard.protect._tokens import Token, tokenize

ENTITIES = ("NAME", "PHONE", "EMAIL", "ADDRESS", "POSTCODE", "CARD", "ACCOUNT", "IBAN", "DOB")
MAX_PASSES = 8
"""Redaction repeats until nothing more is found; each pass only shrinks the unredacted text."""
WORD_CACHE_MAX_AGE_S = 900.0
"""Longest a word of a redacted text stays in the rules' look-up caches, seconds."""


class WordCaches:
    """The rules' look-up caches keyed by the words of the texts they read (``fold``, the joined
    street names): the words of every transcript staff were shown, the very PII redaction hides.

    Emptied ``max_age_s`` after a text was read, by a timer (so also in a process that has gone
    idle), and by :func:`forget_words` when a recording is deleted or leaves review.
    """

    CACHES = (fold, _joined_suffix_street)

    def __init__(self, max_age_s: float = WORD_CACHE_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._expiry = ExpiryTimer(self._sweep, name="overheard-redaction-words")

    def used(self) -> None:
        """Words were just looked up: empty the caches within ``max_age_s`` (call after the look-ups)."""
        self._expiry.arm(self.max_age_s)

    def clear(self) -> None:
        """Forget every word now."""
        for cache in self.CACHES:
            cache.cache_clear()

    def held(self) -> int:
        """How many words the caches hold."""
        return sum(cache.cache_info().currsize for cache in self.CACHES)

    def _sweep(self) -> None:
        self.clear()


WORD_CACHES = WordCaches()


def forget_words() -> None:
    """Forget the words of every text this process redacted (a deletion or a withdrawal)."""
    WORD_CACHES.clear()


@dataclass(frozen=True)
class Span:
    """A piece of PII in a text."""

    start: int
    """Character offset of the first character."""
    end: int
    """Character offset just past the last character."""
    entity: str
    """One of ``ENTITIES``, e.g. ``"NAME"``."""


def find_pii(
    text: str, *, tagger: bool = False, names: Sequence[tuple[int, int]] = ()
) -> list[Span]:
    """Non-overlapping PII spans in text order (runs in time linear in the text length).

    ``tagger=True``: the learned tagger's names are added to the rules' (it loads the MiniLM
    encoder, about 15 ms of CPU a text). ``names``: the tagger's names found earlier, as
    :func:`tagged_name_spans` gave them for this very text (the pipeline stores them with the
    hypothesis, so that serving needs no encoder); spans outside the text are ignored.

    Text with letters of other scripts that look Latin (Greek, Cyrillic, Armenian, Cherokee…) is
    read twice, as written and with them in Latin (:mod:`._confusables`; same offsets), and the
    PII of both is joined: ``jоhn`` with a Cyrillic ``о`` is a name, and nothing found in the text
    as written is lost."""
    folded = latin_lookalikes(text)
    spans = _find_pii(text, tagger, names)
    if folded == text:
        return spans
    return merge([*spans, *_find_pii(folded, tagger, names)])


def _find_pii(text: str, tagger: bool, names: Sequence[tuple[int, int]]) -> list[Span]:
    """:func:`find_pii` of one reading of the text."""
    tokens = tokenize(text)
    found, rule_names, taken = _by_rules(text, tokens)
    starts = [t.start for t in tokens]
    added = [*(_tagged_names(text, tokens, rule_names) if tagger else []), *names]
    rule_names += (
        (start, end)
        for start, end in added
        if 0 <= start < end <= len(text)
        and not any(k in taken for k in _tokens_in(starts, start, end))
    )
    found += ((start, end, "NAME") for start, end in rule_names)
    return merge(Span(start, end, entity) for start, end, entity in found)


def tagged_name_spans(text: str) -> list[tuple[int, int]]:
    """The learned tagger's names in ``text`` (character spans, before the rules' PII is taken
    out): what ``find_pii(text, names=...)`` adds later as ``find_pii(text, tagger=True)`` would
    (of the text as written and, as there, with look-alike letters in Latin)."""
    spans: list[tuple[int, int]] = []
    for reading in dict.fromkeys((text, latin_lookalikes(text))):
        tokens = tokenize(reading)
        spans += _tagged_names(reading, tokens, _by_rules(reading, tokens)[1])
    return sorted(set(spans))


def _tagged_names(
    text: str, tokens: list[Token], rule_names: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    # Imported here: the tagger's module imports the encoder's (and SciPy), which a web process,
    # redacting by the rules and stored names only, never needs (about 20 MB).
    from overheard.protect._name_tagger import tagged_names

    return tagged_names(text, tokens, rule_names)


def _by_rules(
    text: str, tokens: list[Token]
) -> tuple[list[Found], list[tuple[int, int]], set[int]]:
    """The rules' PII other than names, their names, and the tokens the former cover."""
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
    found += find_numbers(text, tokens, _covered_tokens(starts, found))
    taken = _covered_tokens(starts, found)
    emails = [(start, end) for start, end, entity in found if entity == "EMAIL"]
    names = [
        (start, end)
        for start, end in [*find_names(text, tokens), *names_before_emails(tokens, emails)]
        if not any(k in taken for k in _tokens_in(starts, start, end))
    ]
    WORD_CACHES.used()  # after the look-ups: a sweep meanwhile would miss what they kept
    return found, names, taken


WARM_UP_TEXT = "call John Smith at 12 Oak Street, Springfield, born 3 May 1990, on 555 0100"
"""A text that makes redaction load every table it reads (names, places, street types, dates)."""


def warm_up() -> None:
    """Load the tables redaction reads once per process (0.1–0.5 s of CPU), so that the first text
    a web process redacts, a reviewer's, does not wait for them. Serving never runs the name tagger
    (the pipeline stores its names with the hypothesis), so no encoder is loaded."""
    redact(WARM_UP_TEXT)


def redact(text: str, *, tagger: bool = False, names: Sequence[tuple[int, int]] = ()) -> str:
    """The text in plain form (:mod:`overheard.protect._plain`: no full-width or foreign digits,
    invisible characters or direction overrides to hide PII behind) with every PII span replaced
    by ``[ENTITY]``; ``redact(redact(x)) == redact(x)``.

    ``tagger`` and ``names``: as for :func:`find_pii` (``names`` in the first pass, the only one
    whose text they were found in; spans of ``text`` as given)."""
    text, offsets = plain(text)
    names = plain_spans(names, offsets)
    for _ in range(MAX_PASSES):
        redacted = _redact_once(text, tagger, names)
        names = ()
        if redacted == text:
            break
        text = redacted
    return text


def _redact_once(text: str, tagger: bool, names: Sequence[tuple[int, int]] = ()) -> str:
    """One replacement pass over the spans ``find_pii`` reports."""
    pieces: list[str] = []
    cursor = 0
    for span in find_pii(text, tagger=tagger, names=names):
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
