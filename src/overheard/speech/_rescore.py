"""Whisper's n-best list rescored with an adapted n-gram language model (domain adaptation).

The beam search returns its ``n`` best hypotheses with their log probabilities. Each is rescored with
the log ratio of an interpolated model to the general one:

    score = log P_whisper(h) + weight * sum_i log((mix * P_domain(w_i | .) + (1 - mix) * P_general(w_i | .))
                                                  / P_general(w_i | .))

``P_domain`` is the trigram model trained on reviewed transcripts (``lm.arpa``), ``P_general`` the
generic en-us trigram model bundled with pocketsphinx. Whisper already holds a model of general
English, so only the domain's *evidence* is added: a word the domain model makes likelier than
general English is favoured, and a word it has never seen costs at most ``-weight * log(1 - mix)``
(the interpolation keeps new wording possible). Word times and confidences of the chosen hypothesis
come from whisper's alignment of its tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

LOGMATH_TO_LN = math.log(1.0001)
"""pocketsphinx scores are log base 1.0001."""
UNKNOWN = -100_000_000
"""pocketsphinx scores below this mean an unknown word."""
GENERAL_FLOOR_LN = -16.0
"""Log probability given a word the general model does not know, natural log."""
NBEST = 5
NO_SPEECH_PROB = 0.6
"""With the best hypothesis' mean token log probability at most ``SILENT_LOGPROB``: no speech, as
faster-whisper's ``transcribe`` decides by default (its ``no_speech_threshold``)."""
SILENT_LOGPROB = -1.0
WEIGHT = 1.0
MIX = 0.5


@dataclass(frozen=True)
class Hypothesis:
    """One beam hypothesis: its tokens, text and summed log probability (natural log)."""

    tokens: tuple[int, ...]
    text: str
    logprob: float


class NgramModel:
    """An n-gram model read by pocketsphinx (ARPA or binary), queried word by word."""

    def __init__(self, path: Path) -> None:
        from pocketsphinx import NGramModel as _Ngram

        self._lm = _Ngram.readfile(str(path))
        self.order = 3

    def logprob(self, word: str, history: list[str]) -> float | None:
        """ln P(word | history) (history oldest first), or None for an unknown word."""
        context = list(reversed(history[-(self.order - 1) :]))
        value = self._lm.prob([word, *context])
        return None if value < UNKNOWN else value * LOGMATH_TO_LN


@cache
def general_model() -> NgramModel:
    """The generic en-us trigram model bundled with pocketsphinx (loaded once)."""
    import pocketsphinx

    return NgramModel(Path(pocketsphinx.get_model_path()) / "en-us" / "en-us.lm.bin")


NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    " sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety"
    " hundred thousand".split()
)
"""Spoken numbers: one class in a class-based model (numbers come out as words, ``_whisper``)."""
NUMBER_CLASS = "numberword"
"""The class token standing for any number word in a class-based model's sentences."""


def number_classed(words: list[str]) -> list[str]:
    """``words`` with every number word replaced by the number class token."""
    return [NUMBER_CLASS if w in NUMBER_WORDS else w for w in words]


@dataclass(frozen=True)
class ClassModel:
    """An n-gram model estimated over number-classed sentences, queried with plain words: a number
    word gets the class's probability shared evenly by the class's words, so "for seventeen minutes"
    is as likely as the "for ten minutes" the reviewers happened to say."""

    model: NgramModel

    def logprob(self, word: str, history: list[str]) -> float | None:
        """ln P(word | history) under the class model, or None for an unknown word."""
        found = self.model.logprob(number_classed([word])[0], number_classed(history))
        if found is None or word not in NUMBER_WORDS:
            return found
        return found - math.log(len(NUMBER_WORDS))


@dataclass(frozen=True)
class Rescorer:
    """Domain evidence from an adapted n-gram model, added to whisper's hypothesis scores."""

    domain: NgramModel | ClassModel
    general: NgramModel
    weight: float = WEIGHT
    mix: float = MIX

    def domain_evidence(self, words: list[str]) -> float:
        """sum of ln((mix P_domain + (1 - mix) P_general) / P_general) over the words and </s>."""
        history = ["<s>"]
        total = 0.0
        for word in [*words, "</s>"]:
            general = self.general.logprob(word, history)
            general = GENERAL_FLOOR_LN if general is None else general
            domain = self.domain.logprob(word, history)
            ratio = 0.0 if domain is None else math.exp(domain - general)
            total += math.log(self.mix * ratio + (1.0 - self.mix))
            history.append(word)
        return total

    def score(self, hypothesis: Hypothesis, words: list[str]) -> float:
        """Whisper's log probability plus the weighted domain evidence."""
        return hypothesis.logprob + self.weight * self.domain_evidence(words)


def nbest(
    model: Any,
    audio: np.ndarray,
    *,
    beam_size: int,
    n: int,
    suppress_tokens: list[int],
    language: str = "en",
    hotwords: str | None = None,
    initial_prompt: str | None = None,
    encoded: tuple[Any, int] | None = None,
) -> tuple[list[Hypothesis], Any, int, Any]:
    """The ``n`` best hypotheses of a (<= 30 s) clip; also the encoder output, frame count and
    tokenizer the alignment needs. ``encoded``: the clip's encoder output and frame count, if
    already at hand."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    if encoded is None:
        features = model.feature_extractor(audio)
        frames = features.shape[-1] - 1
        output = model.encode(pad_or_trim(features[:, :frames]))
    else:
        output, frames = encoded
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=hotwords)
    result = model.model.generate(
        output,
        [prompt],
        beam_size=max(beam_size, n),
        num_hypotheses=n,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=suppress_tokens,
        max_length=model.max_length,
    )[0]
    if result.no_speech_prob > NO_SPEECH_PROB and result.scores[0] <= SILENT_LOGPROB:
        return [], output, frames, tokenizer
    found = []
    for tokens, score in zip(result.sequences_ids, result.scores, strict=True):
        text = tokenizer.decode(tokens).strip()
        found.append(Hypothesis(tuple(tokens), text, float(score) * max(1, len(tokens))))
    return found, output, frames, tokenizer


def aligned_words(
    model: Any, tokenizer: Any, tokens: tuple[int, ...], encoded: Any, frames: int
) -> list[dict[str, Any]]:
    """Whisper's word alignment of ``tokens``: dicts with ``word``, ``start``, ``end``,
    ``probability``."""
    text_tokens = [t for t in tokens if t < tokenizer.eot]
    if not text_tokens:
        return []
    return model.find_alignment(tokenizer, [text_tokens], encoded, frames)[0]
