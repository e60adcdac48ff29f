"""Whitespace tokens with their character offsets, the unit every recognizer walks over."""

from __future__ import annotations

import re
from dataclasses import dataclass

_EDGE = r"\"'`,;:!?()\[\]{}<>«»“”‘’*"
PLACEHOLDER = r"\[[A-Z]+\]"
"""What ``redact`` writes; such a token is kept whole and never re-detected as PII."""
_APOSTROPHES = "'’"
_TOKEN = re.compile(rf"{PLACEHOLDER}|[^\s{_EDGE}]++(?:[{_APOSTROPHES}]++[^\s{_EDGE}]++)*+")
"""A placeholder, or a run of characters that are neither space nor bracket/quote/comma-like,
joined across inner apostrophes (``o'connor``, ``jenny's``); dots, ``@``, ``+`` and ``-`` stay
inside (``a.b@c.com``, ``555-0123``). Possessive quantifiers keep the scan linear on any input."""
_POSSESSIVE = ("'s", "’s")


@dataclass(frozen=True, slots=True)
class Token:
    """One word: split on spaces, brackets, quotes and commas; a trailing full stop left out."""

    start: int
    """Character offset of the first kept character."""
    end: int
    """Character offset just past the last kept character."""
    text: str
    """The kept characters, as written."""
    norm: str
    """Lowercased, curly apostrophes straightened."""
    stem: str
    """``norm`` without a possessive ``'s`` and without apostrophes (``o'connor`` -> ``oconnor``)."""

    @property
    def capitalised(self) -> bool:
        """Written with a leading capital (a name signal in punctuated text)."""
        return self.text[:1].isupper()

    @property
    def stem_end(self) -> int:
        """End offset of the word without its possessive ``'s``."""
        return self.end - 2 if self.text.endswith(_POSSESSIVE) else self.end


def tokenize(text: str) -> list[Token]:
    """Words with edge punctuation (and a trailing full stop) left out, in linear time."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        body = match.group()
        if body.endswith("."):
            body = body.rstrip(".")
            if not body:
                continue
        norm = body.lower().replace("’", "'")
        stem = (norm[:-2] if norm.endswith("'s") else norm).replace("'", "")
        start = match.start()
        tokens.append(Token(start, start + len(body), body, norm, stem))
    return tokens
