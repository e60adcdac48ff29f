"""Text in the plain form staff are shown and redaction reads: no Unicode disguise of the PII.

Without it a phone number, a postcode or a name passes the rules unseen when written in
full-width forms (``０７７００``, as Japanese and Chinese input methods type them), in another
script's digits (``٠٧٧٠٠``), split by invisible characters (a zero-width space, a soft hyphen, a
word joiner) or with unusual dashes and spaces; and right-to-left overrides can make a screen
show a number other than the one stored. Each character is mapped on its own (so offsets into
the original text map exactly onto the plain one), by these rules:

* format characters (category ``Cf``: zero-width spaces and joiners, soft hyphens, direction
  marks and overrides, the byte-order mark), variation selectors and enclosing marks are dropped;
* a decimal digit of any script becomes its ASCII digit, a dash of any kind ``-``, a space of
  any kind (and a line or paragraph separator) an ASCII space;
* anything else takes its NFKC compatibility form (full-width ``Ａ`` is ``A``, ``ﬁ`` is ``fi``).

ASCII text is returned as it is. What it does not undo: look-alike letters of other scripts
(Cyrillic ``о`` in ``jоhn``), which NFKC keeps apart; redaction reads those in Latin for
matching only (``_confusables``), and staff see them as written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

_DROPPED = frozenset({"Cf", "Me"})
"""Categories drawn invisibly or only around another character."""
_SPACES = frozenset({"Zs", "Zl", "Zp"})
_VARIATION_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


@lru_cache(maxsize=4096)
def plain_char(ch: str) -> str:
    """The plain form of one character (possibly empty, possibly several characters)."""
    if ch.isascii():
        return ch
    category = unicodedata.category(ch)
    if category in _DROPPED or any(lo <= ord(ch) <= hi for lo, hi in _VARIATION_SELECTORS):
        return ""
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    if category == "Pd":
        return "-"
    if category in _SPACES:
        return " "
    folded = unicodedata.normalize("NFKC", ch)
    return ch if folded == ch else "".join(plain_char(c) for c in folded)


def plain(text: str) -> tuple[str, list[int] | None]:
    """``text`` in plain form, and for every offset 0..len(text) of ``text`` its offset in the
    plain form (None when the text is already plain: offsets are unchanged)."""
    if text.isascii():
        return text, None
    pieces: list[str] = []
    offsets: list[int] = []
    cursor = 0
    for ch in text:
        offsets.append(cursor)
        piece = plain_char(ch)
        pieces.append(piece)
        cursor += len(piece)
    offsets.append(cursor)
    out = "".join(pieces)
    return out, (None if out == text else offsets)


def plain_spans(
    spans: Sequence[tuple[int, int]], offsets: list[int] | None
) -> list[tuple[int, int]]:
    """Character spans of a text moved onto its plain form (spans outside the text are dropped)."""
    if offsets is None:
        return list(spans)
    last = len(offsets) - 1
    return [
        (offsets[start], offsets[end])
        for start, end in spans
        if 0 <= start < end <= last and offsets[start] < offsets[end]
    ]
