"""Look-alikes of ASCII letters and digits in any script, folded for matching only.

NFKC (``_plain``) keeps Cyrillic ``о``, Armenian ``օ``, Cherokee ``Ꭻ`` or Latin ``ɑ`` apart from
``o``, ``J`` and ``a``, so ``jоhn``, ``Bаker Strееt`` or ``SW1A 1АА`` written with them would pass
rules that look for Latin words. Unicode's confusables table (UTS #39) names every character that
looks like one ASCII letter or digit; a word whose letters all become Latin letters or ASCII
digits with it (``jоhn``, ``exаmple``, ``ꓣꓳꓐꓰꓣꓔ``, a whole look-alike word such as ``ΜΑRΙΑ``) is
read in Latin, a word with any other letter of its script (``Москва``) is left as it is. Each
letter maps to one character, so offsets into the folded text are offsets into the text as
written: staff are shown the text as written, the spans found in the folded one redacted.
Digits of other scripts are not folded here: ``_plain`` reads them by their value.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("data") / "confusables_latin.txt"
_LETTERS = re.compile(r"[^\W\d_]+")
"""A run of letters: the unit that is read in Latin as a whole or not at all."""


@lru_cache(maxsize=1)
def lookalikes() -> dict[int, str]:
    """Code point -> the ASCII letter or digit it looks like (``str.translate`` table).

    The table's target for capital iotas (``Ι``, ``І``, ``Ӏ``, ``Ɩ``) is ``l``, the prototype
    Unicode shares between ``I``, ``l`` and ``1``; a capital is read as ``I``."""
    table: dict[int, str] = {}
    for line in TABLE_PATH.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source, target = chr(int(fields[0], 16)), chr(int(fields[1], 16))
        table[ord(source)] = "I" if target == "l" and source.isupper() else target
    return table


def latin_lookalikes(text: str) -> str:
    """``text`` with every run of letters that is all Latin or look-alike written in Latin
    letters and ASCII digits (same length: offsets carry over)."""
    if text.isascii():
        return text
    table = lookalikes()
    return _LETTERS.sub(lambda m: _as_latin(m.group(), table), text)


def _as_latin(word: str, table: dict[int, str]) -> str:
    """The word in Latin letters, or the word itself if some letter has no Latin look-alike."""
    folded = word.translate(table)
    if folded == word or not all(_is_latin(ch) for ch in folded):
        return word
    if "l" in folded and folded.replace("l", "").isupper():
        # ``l`` also stands for ``I``: in a word of capitals (Lisu ``ꓢꓳꓑꓧꓲꓰ``) it is one
        return "".join(
            "I" if f == "l" and w != "l" else f for w, f in zip(word, folded, strict=True)
        )
    return folded


@lru_cache(maxsize=4096)
def _is_latin(ch: str) -> bool:
    """True for a letter of the Latin script (``é`` too) or an ASCII digit."""
    return ch.isascii() or unicodedata.name(ch, "").startswith("LATIN ")
