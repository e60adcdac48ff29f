"""ASR adaptation from reviewed transcripts, for both recogniser families, in one version folder.

pocketsphinx: a domain trigram model estimated over the reviewed transcripts of the train split
(and, by default, the project's seed requests); every word gets a pronunciation from the CMU
dictionary, and words it lacks get one by rule (:mod:`overheard.speech.lm`). Loaded as
``pocketsphinx:<folder>``, which keeps the generic model as fallback.

whisper: ``whisper.json`` (loaded as ``whisper:<folder>``) lists the most frequent domain words and,
when ``RESCORE_WEIGHT`` is above 0, has the recogniser rescore its n-best list with the same trigram
model (interpolated with the general en-us model, ``overheard.speech._rescore``). Hotwords and an
initial prompt raised WER on wording they were not built from (docs/models/adapted-asr.md), so
``BIAS_WITH_HOTWORDS`` is off.

Households: every n-gram of a reviewed transcript (each order, sentence markers included) enters the
model only if at least ``learn_min_households`` distinct households said it; n-grams of the seed
requests (shipped with the project) always do. So a name, an address or a medical word one household
said never reaches the model that rescores another household's speech, nor its dictionary or
``whisper.json``. Households are told apart by the clip's household id, which the artifact never holds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import BadRequest
from ..platform import Platform
from ..speech.asr import DEFAULT_SPEC, RESCORE_MIX, RESCORE_WEIGHT, WHISPER_ADAPTATION
from ..speech.lm import Ngram, build_language_model, normalise_words, sentence_ngrams
from ..speech.seed import seed_requests
from .models import ModelKind
from .reviewed import Example
from .training import TrainOptions, TrainResult, train_and_register

LM_ORDER = 3
HOTWORDS = 40
"""How many domain words are listed for whisper."""
BIAS_WITH_HOTWORDS = False
"""Measured on new phrasings (benchmarks/asr_adaptation.py): WER 0.135 unbiased, 0.227 with hotwords,
0.175 with an initial prompt, encoded with the tokenizer as shipped; with every merge (tuning
split, 72 clips): 0.202 unbiased, 0.229 with hotwords, 0.202 with an initial prompt
(docs/models/adapted-asr.md)."""
STOPWORDS = frozenset(
    "a an the to of in on at for and or is it i me my you your is are be what's what how"
    " please can could would will do does this that".split()
)


MIN_HOUSEHOLDS = 2
"""Default of ``learn_min_households``."""
SENTENCE_MARKS = ("<s>", "</s>")


class NothingToLearn(BadRequest):
    """The household rule leaves no word of the training data: no model is written."""

    code = "nothing_to_learn"


def seed_sentences(include_seed: bool) -> list[str]:
    """The project's seed training requests (public: shipped with it), or none."""
    return [r.text for r in seed_requests("train")] if include_seed else []


def asr_sentences(examples: list[Example], *, include_seed: bool) -> list[str]:
    """The sentences the language model is estimated on."""
    return seed_sentences(include_seed) + [e.transcript for e in examples if e.transcript.strip()]


def shared_ngrams(
    said: Iterable[tuple[str, str]],
    *,
    min_households: int,
    public: Iterable[str] = (),
    order: int = LM_ORDER,
) -> set[Ngram]:
    """The n-grams (orders 1..``order``) at least ``min_households`` distinct households said.

    ``said`` is ``(household key, sentence)`` pairs; ``public`` sentences (the seed requests) count
    as said by everyone. The result holds every shorter n-gram inside each of its n-grams, as
    :func:`overheard.speech.lm.build_language_model` needs.
    """
    if min_households < 1:
        raise ValueError(f"min_households must be at least 1, got {min_households}")
    allowed = {ng for text in public for ng in sentence_ngrams(normalise_words(text), order)}
    households: dict[Ngram, set[str]] = defaultdict(set)
    for household, text in said:
        words = normalise_words(text)
        if words:
            for ngram in sentence_ngrams(words, order):
                households[ngram].add(household)
    allowed.update(ng for ng, who in households.items() if len(who) >= min_households)
    return allowed


def build_asr(
    examples: list[Example],
    folder: Path,
    *,
    include_seed: bool,
    whisper_base: str = DEFAULT_SPEC,
    min_households: int = MIN_HOUSEHOLDS,
) -> dict[str, Any]:
    """Write ``lm.arpa``, ``words.dict`` and ``whisper.json`` into ``folder``; counts for the registry.

    Only n-grams ``min_households`` households said (or the seed requests hold) enter any of them.
    """
    sentences = asr_sentences(examples, include_seed=include_seed)
    allowed = shared_ngrams(
        ((e.clip.household_id, e.transcript) for e in examples),
        min_households=min_households,
        public=seed_sentences(include_seed),
    )
    if not any(len(ng) == 1 and ng[0] not in SENTENCE_MARKS for ng in allowed):
        raise NothingToLearn(
            f"no word of the reviewed transcripts was said by {min_households} households"
            " (learn_min_households) and the seed requests are left out: the model would hold no"
            " word, so none is written; train with the seed requests or once more households said"
            " the same words"
        )
    files = build_language_model(sentences, folder, order=LM_ORDER, allowed=allowed)
    biasing = whisper_biasing(sentences, whisper_base, allowed=allowed)
    (folder / WHISPER_ADAPTATION).write_text(json.dumps(biasing), encoding="utf-8")
    folder.chmod(0o700)
    return {
        "whisper_hotwords": len(str(biasing["hotwords"] or "").split()),
        "sentences": len(sentences),
        "order": LM_ORDER,
        "min_households": min_households,
        "vocabulary": files.vocabulary_size,
        "rule_pronunciations": len(files.oov_words),
    }


def whisper_biasing(
    sentences: list[str], base: str = "whisper", *, allowed: set[Ngram] | None = None
) -> dict[str, object]:
    """``whisper.json``: the ``HOTWORDS`` most frequent non-stop words of ``sentences``.

    Words are split as the language model counts them (:func:`normalise_words`: "bob," is "bob").
    With ``allowed``, only words whose unigram it holds are listed.
    """
    counts = Counter(
        w
        for s in sentences
        for w in normalise_words(s)
        if w not in STOPWORDS and (allowed is None or (w,) in allowed)
    )
    words = " ".join(sorted(counts, key=lambda w: (-counts[w], w))[:HOTWORDS])
    return {
        "base": base,
        "domain_words": words,
        "hotwords": words if BIAS_WITH_HOTWORDS else None,
        "initial_prompt": None,
        "rescore": (
            {"lm": "lm.arpa", "weight": RESCORE_WEIGHT, "mix": RESCORE_MIX}
            if RESCORE_WEIGHT > 0
            else None
        ),
    }


def _whisper_base(platform: Platform) -> str:
    """The whisper model an adaptation biases: the configured one, else the default."""
    spec = platform.settings.asr
    return spec if spec.startswith(DEFAULT_SPEC) else DEFAULT_SPEC


def train_asr(platform: Platform, options: TrainOptions) -> TrainResult:
    """Train, write and register a new ASR version (a candidate until a lead approves it)."""
    return train_and_register(
        platform,
        ModelKind.ASR,
        options,
        lambda examples, path: build_asr(
            examples,
            path,
            include_seed=options.include_seed,
            whisper_base=_whisper_base(platform),
            min_households=platform.settings.learn_min_households,
        ),
    )
