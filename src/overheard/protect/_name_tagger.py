"""Names the rules miss, from a learned word tagger: a logistic regression over each word's
all-MiniLM-L6-v2 states (layer 4, the mean of its WordPiece tokens) and its lexicon classes,
with those of its neighbours and whether the rules took each for a name.

Its words are added to the rules' names (a union), so it can only add redactions: a public figure
by one name (``what's trump been up to``), a name the lists lack in a weak context. Trained on
the tuning splits of HWU64 and SLURP (CC BY 4.0; ``benchmarks/redaction_tagger.py`` writes
``data/name_tagger.npz``); method, figures and attribution in ``docs/models/redaction.md``.
When the packaged MiniLM weights are not installed, redaction runs on the rules alone.
It runs in the pipeline, which seals the names it finds with the hypothesis (setting
``redaction_name_tagger``); serving reads those and never loads the encoder.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

import numpy as np

from overheard.errors import ConfigError
from overheard.protect._lexicon import STOP_WORDS, Lexicon, lexicon
from overheard.protect._name_words import NEVER_NAMES, RELATIONS, TITLES
from overheard.protect._tokens import Token
from overheard.speech._minilm import MAX_TOKENS

log = logging.getLogger(__name__)

WEIGHTS = "name_tagger.npz"
LAYER = 4
"""MiniLM layer whose token states the tagger reads (tuning split: layer 4 beat 6)."""
THRESHOLD = 0.7
"""A word is a name above this probability (tuned on held-apart folds of the tuning split)."""
MIN_CHARS = 3
"""A name the tagger starts has at least this many letters (``shell s stock`` is no person)."""
LEXICON_FEATURES = 13
"""Lexicon classes of one word, and whether the rules took it for a name (see ``_word_flags``)."""


def _word_flags(token: Token, lex: Lexicon, by_rules: bool) -> list[float]:
    """The lexicon classes of one word, and whether the rules took it for a name."""
    s = token.stem
    return [
        float(x)
        for x in (
            s in lex.census_first_names,
            s in lex.first_names,
            s in lex.surnames,
            lex.surnames.get(s, 10**9) <= 500,
            s in lex.common_words,
            s in lex.rare_words,
            s in lex.places,
            s in STOP_WORDS,
            not (s in lex.first_names or s in lex.surnames or lex.is_word(s)),
            token.norm.endswith("'s"),
            len(s) <= 2,
            any(c.isdigit() for c in s),
            by_rules,
        )
    ]


def features(
    tokens: list[Token],
    by_rules: list[bool],
    states: np.ndarray,
    offsets: list[tuple[int, int]],
) -> np.ndarray:
    """One row per word: its MiniLM state (mean over its WordPiece tokens, zeros for a word past
    the encoder's length limit), then the lexicon flags of the word, the word before and after."""
    lex = lexicon()
    width = states.shape[1]
    vectors = np.zeros((len(tokens), width), np.float32)
    pieces = [(k, a, b) for k, (a, b) in enumerate(offsets) if b > a]
    cursor = 0
    for w, token in enumerate(tokens):
        while cursor < len(pieces) and pieces[cursor][2] <= token.start:
            cursor += 1
        inside = []
        k = cursor
        while k < len(pieces) and pieces[k][1] < token.end:
            inside.append(pieces[k][0])
            k += 1
        if inside:
            vectors[w] = states[inside].mean(axis=0)
    flags = np.array(
        [_word_flags(t, lex, r) for t, r in zip(tokens, by_rules, strict=True)], np.float32
    ).reshape(len(tokens), LEXICON_FEATURES)
    pad = np.zeros((1, LEXICON_FEATURES), np.float32)
    before = np.vstack([pad, flags[:-1]])
    after = np.vstack([flags[1:], pad])
    return np.hstack([vectors, flags, before, after])


@cache
def _model() -> tuple[Any, np.ndarray, float] | None:
    """(encoder, weights, bias), or None when the MiniLM weights or the tagger's are missing."""
    try:
        from overheard.speech._minilm import sentence_encoder

        encoder = sentence_encoder()
    except (ConfigError, ModuleNotFoundError) as exc:
        log.warning("name tagger off, redaction uses its rules alone: %s", exc)
        return None
    raw = resources.files("overheard.protect").joinpath("data", WEIGHTS).read_bytes()
    with np.load(BytesIO(raw)) as saved:
        return encoder, saved["coef"].astype(np.float32), float(saved["intercept"].item())


def available() -> bool:
    """True if the tagger runs (its encoder's packaged weights are installed)."""
    return _model() is not None


def probabilities(text: str, tokens: list[Token], by_rules: list[bool]) -> np.ndarray:
    """The probability of being (part of) a personal name of each of the first ``len(by_rules)``
    words (at most ``MAX_TOKENS``): zeros without the model and for words past the encoder's
    length limit (``MAX_TOKENS`` WordPiece tokens)."""
    head = tokens[: len(by_rules)]
    out = np.zeros(len(head), np.float32)
    model = _model()
    if model is None or not head:
        return out
    encoder, coef, intercept = model
    # every word is one WordPiece token or more: on a long text the encoder stops before the
    # end of word MAX_TOKENS, so the rest is never tokenised
    cut = text if len(tokens) <= MAX_TOKENS else text[: tokens[MAX_TOKENS - 1].end]
    states, offsets = encoder.token_states(cut, LAYER)
    read_to = max(b for _, b in offsets)
    head = [t for t in head if t.start < read_to]
    if not head:
        return out
    logits = features(head, by_rules[: len(head)], states, offsets) @ coef + intercept
    out[: len(head)] = 1.0 / (1.0 + np.exp(-logits))
    return out


def tagged_names(
    text: str, tokens: list[Token], rule_names: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Character spans of runs of words the tagger finds to be names, among the words the
    encoder reads (the first ``MAX_TOKENS`` WordPiece tokens; the rules cover the rest)."""
    head = tokens[:MAX_TOKENS]
    if not head:
        return []
    near = [(s, e) for s, e in rule_names if s < head[-1].end]
    by_rules = [any(s < t.end and t.start < e for s, e in near) for t in head]
    found: list[tuple[int, int]] = []
    run: list[int] | None = None
    for token, p in zip(head, probabilities(text, tokens, by_rules), strict=True):
        placeholder = token.text.startswith("[")
        if p > THRESHOLD and not placeholder and (run is not None or _may_start(token)):
            run = [run[0] if run else token.start, token.stem_end]
            continue
        if run is not None:
            found.append((run[0], run[1]))
            run = None
    if run is not None:
        found.append((run[0], run[1]))
    return found


def _may_start(token: Token) -> bool:
    """A word a name found by the tagger may start with: no initial, function word or title."""
    s = token.stem
    return (
        len(s) >= MIN_CHARS
        and s not in STOP_WORDS
        and s not in TITLES
        and s not in RELATIONS
        and s not in NEVER_NAMES
    )
