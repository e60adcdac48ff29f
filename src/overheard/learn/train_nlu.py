"""NLU retraining: the intent model fitted on reviewed intents (and, by default, the seed requests).

Households: a word or character n-gram of a reviewed transcript enters the model's vocabularies only
if at least ``learn_min_households`` distinct households' transcripts hold it; those of the seed
requests, the lead's catalogue and an external labelled file always do. The sentence encoder reads
reviewed transcripts without the words left out. The file holds no example text, so a name or an
address one household said is nowhere in it (docs/models/nlu.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..platform import Platform
from ..speech.catalogue import lead_examples
from ..speech.nlu import embeddings_available, text_features, train_intent_model
from ..speech.seed import seed_requests
from .models import ModelKind
from .reviewed import Example
from .train_asr import MIN_HOUSEHOLDS, NothingToLearn
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


def shared_features(
    said: Iterable[tuple[str, str]], *, min_households: int, public: Iterable[str] = ()
) -> tuple[set[str], set[str]]:
    """Word and character n-grams at least ``min_households`` distinct households' texts hold.

    ``said`` is ``(household key, text)`` pairs; every n-gram of the ``public`` texts counts as held.
    """
    if min_households < 1:
        raise ValueError(f"min_households must be at least 1, got {min_households}")
    words: set[str] = set()
    chars: set[str] = set()
    for text in public:
        w, c = text_features(text.lower())
        words |= w
        chars |= c
    households: dict[tuple[int, str], set[str]] = defaultdict(set)
    for household, text in said:
        for part, found in enumerate(text_features(text.lower())):
            for feature in found:
                households[(part, feature)].add(household)
    for (part, feature), who in households.items():
        if len(who) >= min_households:
            (words if part == 0 else chars).add(feature)
    return words, chars


def build_nlu(
    examples: list[Example],
    path: Path,
    *,
    include_seed: bool,
    extra: Sequence[tuple[str, str]] = (),
    embeddings: bool | None = None,
    min_households: int = MIN_HOUSEHOLDS,
) -> dict[str, Any]:
    """Fit and save the intent model at ``path`` (``.npz``); returns counts for the registry.

    Only n-grams ``min_households`` households' reviewed transcripts hold, or the seed requests
    and ``extra`` examples hold, enter it (:func:`shared_features`).
    """
    pairs = nlu_examples(examples, include_seed=include_seed, extra=extra)
    if len({intent for _, intent in pairs}) < 2:
        raise ValueError("an intent model needs examples of at least two intents")
    seed = nlu_examples([], include_seed=include_seed, extra=extra)
    features = shared_features(
        ((e.clip.household_id, e.transcript) for e in examples if e.intent),
        min_households=min_households,
        public=[text for text, _ in seed],
    )
    if not features[0]:
        raise NothingToLearn(
            f"no word of the reviewed transcripts was said by {min_households} households"
            " (learn_min_households) and no seed, catalogue or external example is included:"
            " the model would hold no word, so none is written"
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if embeddings is None:
        embeddings = embeddings_available()
    train_intent_model(pairs, embeddings=embeddings, features=features).save(path)
    return {
        "examples": len(pairs),
        "external_examples": len(extra),
        "intents": len(Counter(i for _, i in pairs)),
        "embeddings": embeddings,
        "min_households": min_households,
        "vocabulary": len(features[0]),
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
            min_households=platform.settings.learn_min_households,
        ),
        suffix=MODEL_SUFFIX,
    )
