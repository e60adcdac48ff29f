"""Scores: word error rate of a recogniser, accuracy / macro-F1 / confusion of an intent model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jiwer
import numpy as np
from sklearn.metrics import confusion_matrix, f1_score  # type: ignore[import-untyped]

from ..speech.lm import normalise_words

EMPTY = "<empty>"
"""Stands in for an empty hypothesis so jiwer counts its deletions."""


def words(text: str) -> str:
    """Lowercase words joined by single spaces (what WER compares), ``<empty>`` for nothing."""
    return " ".join(normalise_words(text)) or EMPTY


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate (errors over reference words), 0..1+."""
    if not references:
        return float("nan")
    return float(jiwer.wer([words(r) for r in references], [words(h) for h in hypotheses]))


@dataclass(frozen=True)
class IntentScore:
    """How an intent model did."""

    accuracy: float
    """Share of correct intents, 0..1."""
    macro_f1: float
    """F1 averaged over the reference intents, 0..1."""
    labels: tuple[str, ...]
    confusion: np.ndarray
    """Rows: reference intent, columns: predicted, in ``labels`` order."""


def intent_score(truth: Sequence[str], predicted: Sequence[str]) -> IntentScore:
    """Accuracy, macro-F1 and the confusion matrix."""
    if not truth:
        return IntentScore(float("nan"), float("nan"), (), np.zeros((0, 0), dtype=int))
    refs = sorted(set(truth))
    labels = tuple(sorted(set(truth) | set(predicted)))
    accuracy = float(np.mean([t == p for t, p in zip(truth, predicted, strict=True)]))
    f1 = float(f1_score(truth, predicted, labels=refs, average="macro", zero_division=0))
    return IntentScore(
        accuracy, f1, labels, confusion_matrix(truth, predicted, labels=list(labels))
    )


def by_group(groups: Sequence[str], score: Callable[[list[int]], float]) -> dict[str, float]:
    """``score`` of each group's indices (e.g. WER per sampling reason)."""
    found: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        found.setdefault(group, []).append(i)
    return {group: score(idx) for group, idx in sorted(found.items())}
