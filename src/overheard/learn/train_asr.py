"""ASR adaptation: a domain trigram model and dictionary built from reviewed transcripts.

The language model is estimated over the reviewed transcripts of the train split (and, by default,
the project's seed requests); every word gets a pronunciation from the CMU dictionary, and words it
lacks get one by rule (:mod:`overheard.speech.lm`). The pipeline loads the folder as
``pocketsphinx:<folder>``, which keeps the generic model as fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..platform import Platform
from ..speech.lm import build_language_model
from ..speech.seed import seed_requests
from .models import ModelKind
from .reviewed import Example
from .training import TrainOptions, TrainResult, train_and_register

LM_ORDER = 3


def asr_sentences(examples: list[Example], *, include_seed: bool) -> list[str]:
    """The sentences the language model is estimated on."""
    seed = [r.text for r in seed_requests("train")] if include_seed else []
    return seed + [e.transcript for e in examples if e.transcript.strip()]


def build_asr(examples: list[Example], folder: Path, *, include_seed: bool) -> dict[str, Any]:
    """Write ``lm.arpa`` and ``words.dict`` into ``folder``; returns counts for the registry."""
    sentences = asr_sentences(examples, include_seed=include_seed)
    files = build_language_model(sentences, folder, order=LM_ORDER)
    folder.chmod(0o700)
    return {
        "sentences": len(sentences),
        "order": LM_ORDER,
        "vocabulary": files.vocabulary_size,
        "rule_pronunciations": len(files.oov_words),
    }


def train_asr(platform: Platform, options: TrainOptions) -> TrainResult:
    """Train, write and register a new ASR version (a candidate until a lead approves it)."""
    return train_and_register(
        platform,
        ModelKind.ASR,
        options,
        lambda examples, path: build_asr(examples, path, include_seed=options.include_seed),
    )
