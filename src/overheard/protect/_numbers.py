"""Digit sequences in written (``07700 900123``) and spoken (``oh seven seven double oh``) form,
and written with letters typed for digits or between them (``o7700 9OO123``, ``07700x900123``)."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Set
from dataclasses import dataclass, replace

from overheard.protect._tokens import Token

UNITS = {
    "zero": "0", "oh": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5",
    "sixty": "6", "seventy": "7", "eighty": "8", "ninety": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
SCALES = {"hundred": 2, "thousand": 3}
"""Zeros a scale word appends (``nine hundred`` -> ``900``, as phone numbers are read out)."""
RUN_MAX_TOKENS = 64
"""Longest run read as one number; anything longer is cut into runs of this many words."""
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | frozenset(SCALES)
WRITTEN_NUMBER = re.compile(r"\+?\(?\d[\d().\-]*")
"""A written digit group: ``07700``, ``(201)``, ``555-0123``, ``+44``, ``415.555.0199``."""
SEPARATED_NUMBER = re.compile(r"\+?\d+(?:(?:[^\w\s]|_)+\d+)*(?:[^\w\s]|_)*")
"""Digit groups joined by any other marks a person might type to keep a number from being
read as one: ``07700/900123``, ``07700_900123``, ``07700|900|123``, ``4111~1111``."""
SEPARATORS = re.compile(r"(?:[^\w\s]|_)+")
"""A word made only of marks (``/``, ``|``, ``_``), standing between two digit groups."""
OPENING_BRACKETS, CLOSING_BRACKETS = "([{<", ")]}>"
FILLER_MAX_CHARS = 3
"""Longest bracketed word read as filler inside a number typed with no space (``07700[X]900123``)."""
SEPARATED_MIN_DIGITS = 7
"""Fewest digits a number joined across unusual marks must have unless an account word comes
before it (``sort code 60/16/13``): shorter ones are fractions, flat or room numbers, scores
(``2/3``, ``4/12``, ``3|2``)."""
DIGIT_LETTERS = {"o": "0", "l": "1"}
"""Letters typed for digits anywhere in a digit group (``o7700``, ``9OO123``, ``90Ol23``)."""
DIGIT_LETTERS_BETWEEN = {"i": "1", "s": "5"}
"""Letters typed for digits only between two digits (``5S55``, ``4i11``): at a word's end they are
a plural or a unit (``1990s``), at its start a model name (``i7``)."""
LETTERS_ONLY_GROUP_MIN_CHARS = 3
"""Shortest group typed in look-alike letters alone; ``o`` and ``lo`` are words."""
_BETWEEN = re.compile(r"(?<=[\dol])[is]+(?=[\dol])")
_MARKS = r"(?:[^\w\s]|_)*+"
LETTERED_GROUP = re.compile(rf"\+?\d++(?:{_MARKS}[a-z]?{_MARKS}\d++)*+{_MARKS}")
"""A digit group once its look-alike letters are digits, with up to one other letter (and any
marks) between two digits: ``07700x900123``, ``07700.x.900123``, ``4111x1111``."""
MULTIPLICATION_SIGNS = "×⨯✕✖"
"""Read like a letter between digit groups: ``1920×1080`` is a size as ``1920x1080`` is."""
CALENDAR_DATE = re.compile(
    r"(?:(?P<d>\d{1,2})[\W_](?P<m>\d{1,2})[\W_]\d{4}|\d{4}[\W_](?P<m2>\d{1,2})[\W_](?P<d2>\d{1,2}))"
)
"""A date written as one word with a four-digit year, day or month first (``12/05/2026``) or
year first (``2026-05-12``). A two-digit year is left out: ``12-05-26`` is as likely a UK sort
code, and six digits are never joined across unusual separators anyway."""


@dataclass(frozen=True)
class DigitRun:
    """Consecutive number tokens read as one digit string."""

    first: int
    """Index of the first token of the run."""
    last: int
    """Index of the last token of the run (inclusive)."""
    digits: str
    """The digits, without separators."""
    plus: bool
    """Whether the run starts with an international ``+`` / ``plus``."""
    spoken: bool
    """Whether the run was spoken (number words) rather than written (digits)."""
    separated: bool = False
    """Whether it was joined across separators no phone, card or account format uses
    (``07700/900123``): it then needs a reading of its own (a phone's shape, a card's checksum, a
    context word), not just its length."""
    fallback: DigitRun | None = None
    """For a separated run, the run read without the unusual separators (possibly None); for a
    lettered one, with its look-alike letters as separators, then without the letters."""
    letter_joined: bool = False
    """Whether a letter or a multiplication sign stands between two of its digit groups
    (``07700x900123``, as a size ``1920x1080`` is written): a phone then needs its shape and a
    leading ``0``, a ``+`` or a phone word."""


def is_written_number(token: Token) -> bool:
    """True for a token made of digits and phone punctuation only."""
    return WRITTEN_NUMBER.fullmatch(token.norm) is not None


def is_spoken_number(tokens: list[Token], i: int) -> bool:
    """True if token i is a number word, or ``double``/``triple`` before a unit."""
    word = tokens[i].norm
    if word in NUMBER_WORDS:
        return True
    return word in REPEATS and i + 1 < len(tokens) and tokens[i + 1].norm in UNITS


def digit_runs(
    tokens: list[Token],
    blocked: Set[int] = frozenset(),
    text: str = "",
    span: tuple[int, int] | None = None,
) -> list[DigitRun]:
    """Every maximal run of written digit groups or of spoken number words, left to right.

    Tokens whose index is in ``blocked`` (already another entity) end a run and never join one.
    ``text``: what the tokens were cut from (to see the brackets around a filler word).
    ``span``: only the tokens from the first index up to the second (exclusive).
    """
    stops = sorted(blocked)
    runs: list[DigitRun] = []
    i, count = span or (0, len(tokens))
    while i < count:
        if not _may_start_run(tokens[i]) or i in blocked:
            i += 1
            continue
        end = _run_limit(stops, i, count)
        run = _written_run(tokens, i, end, text) or _spoken_run(tokens, i, end)
        if run is None:
            i += 1
            continue
        runs.append(run)
        i = run.last + 1
    return runs


def _may_start_run(token: Token) -> bool:
    """Cheap test: could a number start at this token?"""
    word = token.norm
    return (
        word[:1] in "+(0123456789"
        or word in NUMBER_WORDS
        or word in REPEATS
        or word == "plus"
        or (word[:1] in DIGIT_LETTERS and any(ch.isdigit() for ch in word))
    )


def _run_limit(stops: list[int], i: int, count: int) -> int:
    """Index before which a run starting at i must end: the next blocked token or the length cap."""
    k = bisect_left(stops, i)
    nearest = stops[k] if k < len(stops) else count
    return min(nearest, count, i + RUN_MAX_TOKENS)


def _written_run(tokens: list[Token], i: int, end: int, text: str) -> DigitRun | None:
    """The written run starting at token i and ending before token ``end``, if any; read across
    unusual separators when that joins more words (the plain reading is kept as its
    ``fallback``)."""
    plain_last = i
    while plain_last < end and is_written_number(tokens[plain_last]):
        if is_date(tokens[plain_last]):
            break
        plain_last += 1
    plain = _digit_run(tokens, i, plain_last, separated=False)
    last = _separated_end(tokens, i, end, text)
    run = plain
    if last > plain_last:
        joined = _digit_run(tokens, i, last, separated=True)
        run = joined and replace(joined, fallback=plain)
    lettered_last = _lettered_end(tokens, i, end)
    if lettered_last <= max(last, plain_last):
        return run
    return _lettered_run(tokens, i, lettered_last, run)


def _digit_run(tokens: list[Token], i: int, last: int, *, separated: bool) -> DigitRun | None:
    """Tokens i..last-1 read as one written number (None when there are none)."""
    if last == i:
        return None
    joined = "".join(t.norm for t in tokens[i:last])
    digits = "".join(ch for ch in joined if ch.isdigit())
    crossed = any(ch in MULTIPLICATION_SIGNS for ch in joined)
    return DigitRun(
        i,
        last - 1,
        digits,
        joined.startswith("+"),
        spoken=False,
        separated=separated,
        letter_joined=crossed,
    )


def is_date(token: Token) -> bool:
    """True for a calendar date written as one word with separators (``12/05/2026``)."""
    match = CALENDAR_DATE.fullmatch(token.norm)
    if match is None:
        return False
    day = int(match.group("d") or match.group("d2"))
    month = int(match.group("m") or match.group("m2"))
    return 1 <= min(day, month) <= 12 and max(day, month) <= 31


def _separated_end(tokens: list[Token], i: int, end: int, text: str) -> int:
    """Index just past the digit groups from token i joined by any separators: inside a word
    (``07700/900123``), words of marks only (``07700 / 900123``) and, in a number typed with no
    space, a short bracketed word (``07700[X]900123``); i itself when token i is no digit group."""
    last = k = i
    while k < end and _separated_group(tokens[k]):
        last = k = k + 1
        while k + 1 < end and _filler(tokens, k, text):
            k += 1
    return last


def _separated_group(token: Token) -> bool:
    """A digit group, maybe joined to others by marks, that is not a date."""
    return SEPARATED_NUMBER.fullmatch(token.norm) is not None and not is_date(token)


def _filler(tokens: list[Token], k: int, text: str) -> bool:
    """True if token k only separates the digit groups around it: marks only, or (in text typed
    with no space) up to ``FILLER_MAX_CHARS`` letters or digits in brackets."""
    token = tokens[k]
    if SEPARATORS.fullmatch(token.norm):
        return True
    if not text or len(token.norm.strip("[]")) > FILLER_MAX_CHARS:
        return False
    wrapped = text[tokens[k - 1].end : tokens[k + 1].start]
    return (
        not any(ch.isspace() for ch in wrapped)
        and wrapped[:1] in OPENING_BRACKETS
        and wrapped[-1:] in CLOSING_BRACKETS
    )


def _lettered_end(tokens: list[Token], i: int, end: int) -> int:
    """Index just past the digit groups from token i that need letters read: groups with letters
    typed for digits or between digits (``o7700``, ``07700x900123``), joined as in
    :func:`_separated_end` or by a word of one letter (``07700 x 900123``). A group typed in
    letters alone (``4OOO OOOO OOOO OOO2``) counts only between two groups with digits."""
    last = k = i
    while k < end and (_lettered_group(tokens[k]) or (k > i and _letters_only_group(tokens[k]))):
        k += 1
        if any(ch.isdigit() for ch in tokens[k - 1].norm):
            last = k
        while k + 1 < end and (SEPARATORS.fullmatch(tokens[k].norm) or _letter_word(tokens[k])):
            k += 1
    return last


def _lettered_group(token: Token) -> bool:
    """A digit group, maybe with letters typed for digits or between digits, that is not a date."""
    word = token.norm
    return (
        any(ch.isdigit() for ch in word)
        and LETTERED_GROUP.fullmatch(_letters_as_digits(word)) is not None
        and not is_date(token)
    )


def _letters_only_group(token: Token) -> bool:
    """Three or more letters that all stand for digits anywhere (``OOOO``, ``lOl``)."""
    word = token.norm
    return len(word) >= LETTERS_ONLY_GROUP_MIN_CHARS and all(ch in DIGIT_LETTERS for ch in word)


def _letter_word(token: Token) -> bool:
    """A word of one letter or a multiplication sign, between two digit groups."""
    word = token.norm
    return len(word) == 1 and ((word.isascii() and word.isalpha()) or word in MULTIPLICATION_SIGNS)


def _letters_as_digits(word: str) -> str:
    """``word`` (lowercase) with the letters typed for digits written as the digits."""
    word = _BETWEEN.sub(lambda m: m.group().translate(_BETWEEN_TABLE), word)
    return word.translate(_ANYWHERE_TABLE)


_ANYWHERE_TABLE = str.maketrans(DIGIT_LETTERS)
_BETWEEN_TABLE = str.maketrans(DIGIT_LETTERS_BETWEEN)


def _lettered_run(tokens: list[Token], i: int, last: int, rest: DigitRun | None) -> DigitRun:
    """Tokens i..last-1 read with their look-alike letters as digits; then as separators; then
    ``rest`` (the reading without letters)."""
    joined = "".join(t.norm for t in tokens[i:last])
    as_digits = _letters_as_digits(joined)
    if as_digits != joined:
        rest = _letter_reading(i, last, joined, rest)
    return _letter_reading(i, last, as_digits, rest)


def _letter_reading(i: int, last: int, reading: str, fallback: DigitRun | None) -> DigitRun:
    """Tokens i..last-1, joined as ``reading``, as one number; any letter left separates."""
    return DigitRun(
        i,
        last - 1,
        "".join(ch for ch in reading if ch.isdigit()),
        reading.startswith("+"),
        spoken=False,
        separated=True,
        fallback=fallback,
        letter_joined=any(ch.isalpha() or ch in MULTIPLICATION_SIGNS for ch in reading),
    )


def _spoken_run(tokens: list[Token], i: int, end: int) -> DigitRun | None:
    """The spoken run starting at token i and ending before ``end`` (optional leading ``plus``)."""
    window = tokens[i:end]  # at most RUN_MAX_TOKENS long; look-ahead never passes ``end``
    if not window:
        return None
    plus = window[0].norm == "plus" and len(window) > 1 and is_spoken_number(window, 1)
    j = 1 if plus else 0
    chunks: list[str] = []
    while j < len(window):
        step = _spoken_step(window, j, chunks)
        if step == 0:
            break
        j += step
    if not chunks:
        return None
    return DigitRun(i, i + j - 1, "".join(chunks), plus, spoken=True)


def _spoken_step(tokens: list[Token], j: int, chunks: list[str]) -> int:
    """Read the number word(s) at token j into chunks; how many tokens were used (0 = not a number)."""
    word = tokens[j].norm
    if word in REPEATS and j + 1 < len(tokens) and tokens[j + 1].norm in UNITS:
        chunks.append(UNITS[tokens[j + 1].norm] * REPEATS[word])
        return 2
    if word in UNITS or word in TEENS:
        chunks.append(UNITS.get(word) or TEENS[word])
        return 1
    if word in TENS:
        return _tens_step(tokens, j, chunks)
    if word in SCALES:
        return _scale_step(tokens, j, chunks)
    return 0


def _tens_step(tokens: list[Token], j: int, chunks: list[str]) -> int:
    """``twenty`` -> 20, ``twenty three`` -> 23."""
    unit = tokens[j + 1].norm if j + 1 < len(tokens) else ""
    if unit in UNITS and unit not in ("oh", "zero", "nought", "nil"):
        chunks.append(TENS[tokens[j].norm] + UNITS[unit])
        return 2
    chunks.append(TENS[tokens[j].norm] + "0")
    return 1


def _scale_step(tokens: list[Token], j: int, chunks: list[str]) -> int:
    """``nine hundred`` -> 900; ``one hundred and twelve`` / ``nine hundred fifty`` fill the zeros."""
    zeros = SCALES[tokens[j].norm]
    head = chunks.pop() if chunks else "1"
    used = 1
    filler: list[str] = []
    nxt = tokens[j + 1].norm if j + 1 < len(tokens) else ""
    after = tokens[j + 2].norm if j + 2 < len(tokens) else ""
    if nxt == "and" and (after in UNITS or after in TEENS or after in TENS):
        used += 1 + _spoken_step(tokens, j + 2, filler)
    elif nxt in TEENS or nxt in TENS:
        used += _spoken_step(tokens, j + 1, filler)
    tail = "".join(filler)
    chunks.append(
        head + tail.rjust(zeros, "0") if len(tail) <= zeros else head + "0" * zeros + tail
    )
    return used
