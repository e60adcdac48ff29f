"""Trigram language models (ARPA) and pronunciation dictionaries built from example sentences.

The n-gram estimate is absolute discounting with Katz-style backoff: every seen n-gram gives up a
fixed discount ``D`` (Ney's estimate ``n1 / (n1 + 2 n2)`` per order), and the freed mass goes to the
lower order through a backoff weight that keeps each conditional distribution summing to one.
Pronunciations come from the CMU dictionary bundled with pocketsphinx; words it lacks are split into
two known words when possible, else spelled out by letter-to-sound rules (weaker: see docs/models/asr.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pocketsphinx

SENTENCE_START = "<s>"
SENTENCE_END = "</s>"
LM_FILENAME = "lm.arpa"
DICT_FILENAME = "words.dict"
NO_PROB_LOG10 = -99.0
MIN_DISCOUNT = 0.1
MAX_DISCOUNT = 0.9
MIN_LEFTOVER = 1e-6
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_VARIANT = re.compile(r"\(\d+\)$")

Ngram = tuple[str, ...]


@dataclass(frozen=True)
class LanguageModelFiles:
    """What :func:`build_language_model` wrote."""

    lm_path: Path
    """ARPA trigram model."""
    dict_path: Path
    """Pronunciation dictionary (CMU format) covering every word of the model."""
    vocabulary_size: int
    """Distinct words, sentence markers excluded."""
    oov_words: tuple[str, ...]
    """Words absent from the CMU dictionary, pronounced by rule."""


def normalise_words(text: str) -> list[str]:
    """Lowercase word tokens of ``text``, punctuation dropped, apostrophes inside words kept."""
    return _TOKEN.findall(text.lower())


def build_language_model(
    sentences: Iterable[str],
    out_dir: Path,
    *,
    order: int = 3,
    allowed: Collection[Ngram] | None = None,
) -> LanguageModelFiles:
    """Write ``lm.arpa`` and ``words.dict`` for ``sentences`` into ``out_dir``.

    With ``allowed``, only those n-grams (every order, sentence-padded, as :func:`sentence_ngrams`
    makes them) are counted: the probabilities, discounts, backoff weights and the dictionary come
    from their counts alone, as if no other n-gram had been counted. ``allowed`` must hold every
    shorter n-gram inside each of its n-grams (a set of what some group of speakers said does); the
    sentence markers are always kept.
    """
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    corpus = [words for words in map(normalise_words, sentences) if words]
    if not corpus:
        raise ValueError("no words in the sentences")
    out_dir.mkdir(parents=True, exist_ok=True)
    lm_path, dict_path = out_dir / LM_FILENAME, out_dir / DICT_FILENAME
    counts = count_ngrams(corpus, order)
    if allowed is not None:
        counts = [keep_allowed(c, allowed) for c in counts]
    lm_path.write_text(arpa_from_counts(counts), encoding="utf-8")
    vocabulary = sorted(ng[0] for ng in counts[0] if ng[0] not in (SENTENCE_START, SENTENCE_END))
    oov = write_dictionary(vocabulary, dict_path)
    return LanguageModelFiles(lm_path, dict_path, len(vocabulary), oov)


# --- counting and estimation -------------------------------------------------------------------


def sentence_ngrams(words: list[str], order: int) -> Iterator[Ngram]:
    """Every n-gram of orders 1..``order`` of one sentence, padded with the sentence markers."""
    padded = [SENTENCE_START, *words, SENTENCE_END]
    for n in range(1, order + 1):
        for i in range(len(padded) - n + 1):
            yield tuple(padded[i : i + n])


def count_ngrams(corpus: list[list[str]], order: int) -> list[Counter[Ngram]]:
    """N-gram counts for orders 1..``order`` (index 0 holds unigrams), sentences padded."""
    counts: list[Counter[Ngram]] = [Counter() for _ in range(order)]
    for words in corpus:
        for ngram in sentence_ngrams(words, order):
            counts[len(ngram) - 1][ngram] += 1
    return counts


_MARKERS = frozenset({(SENTENCE_START,), (SENTENCE_END,)})


def keep_allowed(counts: Counter[Ngram], allowed: Collection[Ngram]) -> Counter[Ngram]:
    """The counts of the n-grams in ``allowed`` (and of the sentence markers)."""
    return Counter({ng: c for ng, c in counts.items() if ng in allowed or ng in _MARKERS})


def ney_discount(counts: Counter[Ngram]) -> float:
    """Absolute discount ``n1 / (n1 + 2 n2)`` clamped to a sane range."""
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    raw = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    return min(MAX_DISCOUNT, max(MIN_DISCOUNT, raw))


class _Estimator:
    """Backoff probabilities (natural, not log) for every listed n-gram plus backoff weights."""

    def __init__(self, counts: list[Counter[Ngram]]) -> None:
        self.order = len(counts)
        self.prob: dict[Ngram, float] = {}
        self.backoff: dict[Ngram, float] = {}
        self._unigrams(counts[0])
        for n in range(2, self.order + 1):
            self._higher(counts[n - 1])

    def _unigrams(self, counts: Counter[Ngram]) -> None:
        total = sum(c for ng, c in counts.items() if ng != (SENTENCE_START,))
        for ngram, c in counts.items():
            self.prob[ngram] = 0.0 if ngram == (SENTENCE_START,) else c / total

    def _higher(self, counts: Counter[Ngram]) -> None:
        discount = ney_discount(counts)
        followers: dict[Ngram, list[tuple[str, int]]] = defaultdict(list)
        for ngram, c in counts.items():
            followers[ngram[:-1]].append((ngram[-1], c))
        for history, seen in followers.items():
            total = sum(c for _, c in seen)
            for word, c in seen:
                self.prob[(*history, word)] = (c - discount) / total
            left = discount * len(seen) / total
            covered = sum(self.full_prob(word, history[1:]) for word, _ in seen)
            self.backoff[history] = left / max(MIN_LEFTOVER, 1.0 - covered)

    def full_prob(self, word: str, history: Ngram) -> float:
        """P(word | history) following backoff arcs down to the unigram."""
        ngram = (*history, word)
        if ngram in self.prob:
            return self.prob[ngram]
        if not history:
            return 0.0
        return self.backoff.get(history, 1.0) * self.full_prob(word, history[1:])


def arpa_text(corpus: list[list[str]], order: int) -> str:
    """The ARPA file for ``corpus``."""
    return arpa_from_counts(count_ngrams(corpus, order))


def arpa_from_counts(counts: list[Counter[Ngram]]) -> str:
    """The ARPA file for n-gram counts of orders 1..``len(counts)``."""
    order = len(counts)
    estimator = _Estimator(counts)
    lines = ["\\data\\", *(f"ngram {n}={len(counts[n - 1])}" for n in range(1, order + 1)), ""]
    for n in range(1, order + 1):
        lines.append(f"\\{n}-grams:")
        lines.extend(_arpa_line(ng, estimator, n < order) for ng in sorted(counts[n - 1]))
        lines.append("")
    lines.append("\\end\\")
    return "\n".join(lines) + "\n"


def _arpa_line(ngram: Ngram, estimator: _Estimator, with_backoff: bool) -> str:
    prob = estimator.prob[ngram]
    log_prob = math.log10(prob) if prob > 0 else NO_PROB_LOG10
    text = f"{log_prob:.6f}\t{' '.join(ngram)}"
    if with_backoff and ngram[-1] != SENTENCE_END:
        text += f"\t{math.log10(estimator.backoff.get(ngram, 1.0)):.6f}"
    return text


# --- pronunciations ----------------------------------------------------------------------------


def cmudict_path() -> Path:
    """The CMU pronouncing dictionary that ships with pocketsphinx."""
    return Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"


@cache
def cmudict() -> dict[str, tuple[str, ...]]:
    """Word -> pronunciations (phone strings), alternatives in dictionary order."""
    entries: dict[str, list[str]] = defaultdict(list)
    with cmudict_path().open(encoding="utf-8") as lines:
        for line in lines:
            word, _, phones = line.strip().partition(" ")
            if phones:
                entries[_VARIANT.sub("", word)].append(phones.split("#")[0].strip())
    return {word: tuple(prons) for word, prons in entries.items()}


def pronunciations(word: str) -> tuple[tuple[str, ...], bool]:
    """Pronunciations of ``word`` and whether they came from the dictionary."""
    known = cmudict()
    if word in known:
        return known[word], True
    for cut in range(2, len(word) - 1):
        head, tail = word[:cut], word[cut:]
        if head in known and tail in known:
            return (f"{known[head][0]} {known[tail][0]}",), False
    return (" ".join(letter_to_sound(word)),), False


def write_dictionary(vocabulary: Iterable[str], path: Path) -> tuple[str, ...]:
    """Write a CMU-format dictionary for ``vocabulary``; return the words that needed rules."""
    oov: list[str] = []
    lines: list[str] = []
    for word in vocabulary:
        prons, known = pronunciations(word)
        if not known:
            oov.append(word)
        for i, phones in enumerate(prons):
            lines.append(f"{word if i == 0 else f'{word}({i + 1})'} {phones}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tuple(oov)


# Longest graphemes first; a rough letter-to-sound table for English, after NRL-style rules.
_GRAPHEMES: dict[str, tuple[str, ...]] = {
    "tion": ("SH", "AH", "N"),
    "sion": ("ZH", "AH", "N"),
    "ough": ("AO",),
    "augh": ("AO",),
    "igh": ("AY",),
    "tch": ("CH",),
    "dge": ("JH",),
    "sch": ("S", "K"),
    "ch": ("CH",),
    "sh": ("SH",),
    "th": ("TH",),
    "ph": ("F",),
    "wh": ("W",),
    "ck": ("K",),
    "ng": ("NG",),
    "qu": ("K", "W"),
    "kn": ("N",),
    "wr": ("R",),
    "ee": ("IY",),
    "ea": ("IY",),
    "oo": ("UW",),
    "ou": ("AW",),
    "ow": ("OW",),
    "oi": ("OY",),
    "oy": ("OY",),
    "ai": ("EY",),
    "ay": ("EY",),
    "au": ("AO",),
    "aw": ("AO",),
    "ei": ("EY",),
    "ie": ("IY",),
    "ue": ("UW",),
    "ew": ("UW",),
    "oa": ("OW",),
    "ar": ("AA", "R"),
    "er": ("ER",),
    "ir": ("ER",),
    "ur": ("ER",),
    "or": ("AO", "R"),
    "a": ("AE",),
    "b": ("B",),
    "c": ("K",),
    "d": ("D",),
    "e": ("EH",),
    "f": ("F",),
    "g": ("G",),
    "h": ("HH",),
    "i": ("IH",),
    "j": ("JH",),
    "k": ("K",),
    "l": ("L",),
    "m": ("M",),
    "n": ("N",),
    "o": ("AA",),
    "p": ("P",),
    "q": ("K",),
    "r": ("R",),
    "s": ("S",),
    "t": ("T",),
    "u": ("AH",),
    "v": ("V",),
    "w": ("W",),
    "x": ("K", "S"),
    "y": ("IH",),
    "z": ("Z",),
    "'": (),
}
_LONG_VOWEL = {"a": ("EY",), "e": ("IY",), "i": ("AY",), "o": ("OW",), "u": ("UW",)}
_VOWELS = frozenset("aeiouy")
_SOFTENERS = frozenset("eiy")


def letter_to_sound(word: str) -> list[str]:
    """A rule-based pronunciation for a word no dictionary knows (ARPAbet, no stress)."""
    letters = re.sub(r"([b-df-hj-np-tv-z])\1", r"\1", word.lower())
    phones: list[str] = []
    for i, grapheme in _segment(letters):
        phones.extend(_grapheme_phones(letters, i, grapheme))
    return phones or ["AH"]


def _segment(letters: str) -> Iterator[tuple[int, str]]:
    i = 0
    while i < len(letters):
        size = next(n for n in (4, 3, 2, 1) if n == 1 or letters[i : i + n] in _GRAPHEMES)
        if letters[i] in _GRAPHEMES or size > 1:
            yield i, letters[i : i + size]
        i += size


def _grapheme_phones(letters: str, i: int, grapheme: str) -> tuple[str, ...]:
    nxt = letters[i + len(grapheme) : i + len(grapheme) + 1]
    last = i + len(grapheme) == len(letters)
    if grapheme == "e" and last and i > 1:
        return ()  # silent final e
    if grapheme in ("c", "g") and nxt in _SOFTENERS:
        return ("S",) if grapheme == "c" else ("JH",)
    if grapheme == "y":
        return ("Y",) if i == 0 else ("IY",) if last else ("IH",)
    if grapheme in _LONG_VOWEL and _magic_e(letters, i):
        return _LONG_VOWEL[grapheme]
    return _GRAPHEMES[grapheme]


def _magic_e(letters: str, i: int) -> bool:
    """Vowel, one consonant, then a final e: the vowel says its name (``mute``, ``cake``)."""
    tail = letters[i + 1 :]
    return len(tail) == 2 and tail[0] not in _VOWELS and tail[1] == "e"
