"""Intent accuracy: HWU64 (train folds 1-8, test fold 9) and the seed held-out phrasings.

Run: .venv/bin/python benchmarks/nlu.py [--data ../shared/data]
Baseline measured in the same run: a majority-class predictor, and word-only TF-IDF + logistic
regression (no character n-grams).
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from overheard.speech.nlu import (
    PRIVACY_CONFIDENCE_FLOOR,
    IntentModel,
    default_intent_model,
    is_privacy_command,
    train_intent_model,
)
from overheard.speech.seed import seed_requests

PUBLISHED_F1 = "0.85-0.88"
CONFIDENCE_BINS = 10


def read_hwu_fold(path: Path) -> list[tuple[str, str]]:
    """(text, scenario_intent) rows of one HWU64 fold."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter=";")
        return [(r["answer_from_anno"].strip(), f"{r['scenario']}_{r['intent']}") for r in rows]


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Weighted gap between mean confidence and accuracy over equal-width bins."""
    bins = np.minimum((confidence * CONFIDENCE_BINS).astype(int), CONFIDENCE_BINS - 1)
    gaps = [
        abs(confidence[bins == b].mean() - correct[bins == b].mean()) * (bins == b).mean()
        for b in range(CONFIDENCE_BINS)
        if (bins == b).any()
    ]
    return float(sum(gaps))


def evaluate(model: IntentModel, texts: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    probs = model.probabilities([t.lower() for t in texts])
    predicted = [model.intents[i] for i in probs.argmax(axis=1)]
    correct = np.array([p == g for p, g in zip(predicted, gold, strict=True)], dtype=float)
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0),
        "ece": expected_calibration_error(probs.max(axis=1), correct),
    }


def word_only(
    train: Sequence[tuple[str, str]], texts: Sequence[str], gold: Sequence[str]
) -> dict[str, float]:
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    features = csr_matrix(vectorizer.fit_transform([t.lower() for t, _ in train]))
    classifier = LogisticRegression(C=20.0, solver="newton-cg", max_iter=2000)
    classifier.fit(features, [i for _, i in train])
    predicted = classifier.predict(vectorizer.transform([t.lower() for t in texts]))
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0),
        "ece": float("nan"),
    }


def majority(train: Sequence[tuple[str, str]], gold: Sequence[str]) -> dict[str, float]:
    labels = [i for _, i in train]
    top = max(set(labels), key=labels.count)
    predicted = [top] * len(gold)
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0),
        "ece": float("nan"),
    }


def run(name: str, train: list[tuple[str, str]], test: list[tuple[str, str]]) -> None:
    texts, gold = [t for t, _ in test], [i for _, i in test]
    started = time.perf_counter()
    model = train_intent_model(train)
    fit_s = time.perf_counter() - started
    rows = {
        "majority class": majority(train, gold),
        "word TF-IDF + LR": word_only(train, texts, gold),
        "overheard IntentModel": evaluate(model, texts, gold),
    }
    print(
        f"\n{name}: {len(train)} train, {len(test)} test, {len(set(gold))} intents; fit {fit_s:.1f} s"
    )
    print("| model | accuracy | macro-F1 | ECE |\n| --- | --- | --- | --- |")
    for label, m in rows.items():
        print(f"| {label} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['ece']:.3f} |")


def privacy(held: Sequence[tuple[str, str]], foreign: Sequence[str]) -> None:
    """Deletion commands obeyed on held-out phrasings, and false triggers on other requests."""
    model = default_intent_model()
    commands = [(t, i) for t, i in held if i.startswith("delete_")]
    others = [t for t, i in held if not i.startswith("delete_")] + list(foreign)
    obeyed = sum(is_privacy_command(model.predict(t)) == i for t, i in commands)
    false = [t for t in others if is_privacy_command(model.predict(t))]
    print(f"\nprivacy commands at confidence floor {PRIVACY_CONFIDENCE_FLOOR}")
    print("| measure | value |\n| --- | --- |")
    print(f"| held-out deletion commands obeyed | {obeyed}/{len(commands)} |")
    print(f"| false deletions on other requests | {len(false)}/{len(others)} |")
    for text in false:
        print(f"|   false trigger | {text} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    args = parser.parse_args()
    seed = [(r.text, r.intent) for r in seed_requests("train")]
    held = [(r.text, r.intent) for r in seed_requests("heldout")]
    run("seed held-out phrasings", seed, held)
    folder = args.data / "nlu" / "hwu64"
    if not folder.is_dir():
        print(f"\nHWU64 not found at {folder}: skipped")
        privacy(held, [])
        return
    train = [row for k in range(1, 9) for row in read_hwu_fold(folder / f"fold_{k}.csv")]
    test = read_hwu_fold(folder / "fold_9.csv")
    run("HWU64 folds 1-8 -> fold 9", train, test)
    print(f"published commercial NLU services on HWU64 (10-fold): F1 {PUBLISHED_F1}")
    privacy(held, [t for t, _ in test])


if __name__ == "__main__":
    main()
