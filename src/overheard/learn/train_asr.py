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
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..platform import Platform
from ..speech.asr import DEFAULT_SPEC, WHISPER_ADAPTATION
from ..speech.lm import build_language_model
from ..speech.seed import seed_requests
from .models import ModelKind
from .reviewed import Example
from .training import TrainOptions, TrainResult, train_and_register

LM_ORDER = 3
HOTWORDS = 40
"""How many domain words are listed for whisper."""
BIAS_WITH_HOTWORDS = False
"""Measured on new phrasings (benchmarks/asr_adaptation.py): WER 0.135 unbiased, 0.227 with hotwords,
0.175 with an initial prompt."""
RESCORE_WEIGHT = 0.2
"""Weight of the domain evidence in n-best rescoring (0 = off); chosen on the tuning set of
benchmarks/asr_adaptation.py (docs/models/adapted-asr.md)."""
RESCORE_MIX = 0.8
"""Share of the domain model in the interpolation."""
STOPWORDS = frozenset(
    "a an the to of in on at for and or is it i me my you your is are be what's what how"
    " please can could would will do does this that".split()
)


def asr_sentences(examples: list[Example], *, include_seed: bool) -> list[str]:
    """The sentences the language model is estimated on."""
    seed = [r.text for r in seed_requests("train")] if include_seed else []
    return seed + [e.transcript for e in examples if e.transcript.strip()]


def build_asr(
    examples: list[Example], folder: Path, *, include_seed: bool, whisper_base: str = DEFAULT_SPEC
) -> dict[str, Any]:
    """Write ``lm.arpa``, ``words.dict`` and ``whisper.json`` into ``folder``; counts for the registry."""
    sentences = asr_sentences(examples, include_seed=include_seed)
    files = build_language_model(sentences, folder, order=LM_ORDER)
    biasing = whisper_biasing(sentences, whisper_base)
    (folder / WHISPER_ADAPTATION).write_text(json.dumps(biasing), encoding="utf-8")
    folder.chmod(0o700)
    return {
        "whisper_hotwords": len(str(biasing["hotwords"] or "").split()),
        "sentences": len(sentences),
        "order": LM_ORDER,
        "vocabulary": files.vocabulary_size,
        "rule_pronunciations": len(files.oov_words),
    }


def whisper_biasing(sentences: list[str], base: str = "whisper") -> dict[str, object]:
    """``whisper.json``: the ``HOTWORDS`` most frequent non-stop words of ``sentences``."""
    counts = Counter(w for s in sentences for w in s.lower().split() if w not in STOPWORDS)
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
            examples, path, include_seed=options.include_seed, whisper_base=_whisper_base(platform)
        ),
    )
