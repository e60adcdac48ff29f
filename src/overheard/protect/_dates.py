"""Dates of birth: a date expression after ``born``, ``date of birth``, ``dob`` or ``birthday``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from overheard.protect._lexicon import MONTHS, words
from overheard.protect._numbers import NUMBER_WORDS
from overheard.protect._tokens import Token

Found = tuple[int, int, str]

TRIGGERS = (("date", "of", "birth"), ("d", "o", "b"), ("dob",), ("born",), ("birthday",))
TRIGGER_ENDS = frozenset(t[-1] for t in TRIGGERS) | {"birthday's"}
FILLERS = words("is was on in 's birthday's")
"""Words allowed between a trigger and the date (``born on``, ``birthday is``)."""
MAX_FILLERS = 2
ORDINAL_WORDS = words(
    """
    first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
    fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth
    """
)
NUMERIC_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}")
NUMBER_OR_ORDINAL = re.compile(r"\d{1,4}(?:st|nd|rd|th)?")
GLUE = frozenset(("of", "the", "and"))
"""Words inside a date (``the fifth of may``) that never end one."""
DATE_MAX_WORDS = 12
"""``the twenty first of january two thousand and twelve`` is ten words."""
MONTH_ABBREVIATIONS = words("jan feb mar apr jun jul aug sep sept oct nov dec")


def find_dates_of_birth(tokens: list[Token]) -> Iterator[Found]:
    """Date expressions that follow a birth trigger."""
    for i in range(len(tokens)):
        if tokens[i].norm not in TRIGGER_ENDS:
            continue
        start = _date_start_after_trigger(tokens, i)
        if start is None:
            continue
        end = _date_end(tokens, start)
        if end is not None:
            yield tokens[start].start, tokens[end].end, "DOB"


def _date_start_after_trigger(tokens: list[Token], i: int) -> int | None:
    """If a trigger ends at token i, the index where its date may start."""
    for trigger in TRIGGERS:
        head = i - len(trigger) + 1
        if head >= 0 and tuple(t.norm for t in tokens[head : i + 1]) == trigger:
            break
        if trigger == ("birthday",) and tokens[i].norm == "birthday's":
            break
    else:
        return None
    j = i + 1
    while j < len(tokens) and j - i <= MAX_FILLERS and tokens[j].norm in FILLERS:
        j += 1
    return j if j < len(tokens) else None


def _date_end(tokens: list[Token], start: int) -> int | None:
    """Index of the last token of a date starting at ``start``, or None if it is no date."""
    last = None
    anchored = False
    numbers = 0
    j = start
    limit = min(len(tokens), start + DATE_MAX_WORDS)
    while j < limit and _date_word(tokens[j].norm):
        word = tokens[j].norm
        anchored |= (
            word in MONTHS or word in MONTH_ABBREVIATIONS or bool(NUMERIC_DATE.fullmatch(word))
        )
        numbers += _is_number(word)
        if word not in GLUE:
            last = j
        j += 1
    return last if last is not None and (anchored or numbers >= 2) else None


def _date_word(word: str) -> bool:
    """True for a word that can be part of a spoken or written date."""
    return (
        word in MONTHS
        or word in MONTH_ABBREVIATIONS
        or word in GLUE
        or word in ORDINAL_WORDS
        or word in NUMBER_WORDS
        or bool(NUMERIC_DATE.fullmatch(word) or NUMBER_OR_ORDINAL.fullmatch(word))
    )


def _is_number(word: str) -> bool:
    """True for a number or ordinal, written or spoken."""
    return word in NUMBER_WORDS or word in ORDINAL_WORDS or bool(NUMBER_OR_ORDINAL.fullmatch(word))
