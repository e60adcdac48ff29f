"""NLU retraining: the intent model fitted on reviewed intents (and, by default, the seed requests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..platform import Platform
from ..speech.catalogue import lead_examples
from ..speech.nlu import embeddings_available, train_intent_model
from ..speech.seed import seed_requests
from .models import ModelKind
from .reviewed import Example
from .training import TrainOptions, TrainResult, train_and_register

MODEL_SUFFIX = ".npz"


def nlu_examples(
    examples: list[Example], *, include_seed: bool, extra: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """``(text, intent)`` pairs the intent model is fitted on: seed, catalogue or external file,
    and reviewed clips (those without an intent are left out)."""
    seed = [(r.text, r.intent) for r in seed_requests("train")] if include_seed else []
    reviewed = [(e.transcript, e.intent) for e in examples if e.intent and e.transcript.strip()]
    return seed + list(extra) + reviewed


def build_nlu(
    examples: list[Example],
    path: Path,
    *,
    include_seed: bool,
    extra: Sequence[tuple[str, str]] = (),
    embeddings: bool | None = None,
) -> dict[str, Any]:
    """Fit and save the intent model at ``path`` (``.npz``); returns counts for the registry."""
    pairs = nlu_examples(examples, include_seed=include_seed, extra=extra)
    if len({intent for _, intent in pairs}) < 2:
        raise ValueError("an intent model needs examples of at least two intents")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if embeddings is None:
        embeddings = embeddings_available()
    train_intent_model(pairs, embeddings=embeddings).save(path)
    return {
        "examples": len(pairs),
        "external_examples": len(extra),
        "intents": len(Counter(i for _, i in pairs)),
        "embeddings": embeddings,
    }


def train_nlu(platform: Platform, options: TrainOptions) -> TrainResult:
    """Train, save and register a new intent-model version (a candidate until a lead approves it)."""
    return train_and_register(
        platform,
        ModelKind.NLU,
        options,
        lambda examples, path: build_nlu(
            examples,
            path,
            include_seed=options.include_seed,
            extra=[*lead_examples(platform.settings), *options.extra_examples],
            embeddings=options.embeddings,
        ),
        suffix=MODEL_SUFFIX,
    )
