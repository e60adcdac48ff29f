"""Intent accuracy: HWU64 (held-out fold 9), SLURP test (trained on devel), seed held-out phrasings.

Run: .venv/bin/python benchmarks/nlu.py [--data ../shared/data] [--embeddings]

- HWU64: fold 9 was chosen as the held-out fold before any tuning; training uses folds 1-8. The
  embedding classifier's two numbers (C, weight) were chosen on folds 1-7 -> fold 8 (``--tune``
  prints that grid), never on fold 9.
- SLURP: the official test split (``--slurp-test``, SLURP's ``dataset/slurp/test.jsonl``; no test
  sentence is in devel), the model trained on devel.jsonl (SLURP's train.jsonl is not available
  here) and on devel plus the HWU64 requests of SLURP intents whose sentence is not in the test
  split (``--slurp-train``; the two share their labels). devel split by sentence (SHA-256 of the
  normalised sentence, 30 % held out) is the tuning split (``--tune``); without the test file it
  is run and labelled as such.
Baselines measured in the same run: majority class, word TF-IDF + LR, and TF-IDF + LinearSVC.
Latency: p50 / p99 milliseconds per single request (``predict``), embeddings included.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

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


def tfidf_svc(
    train: Sequence[tuple[str, str]], texts: Sequence[str], gold: Sequence[str]
) -> dict[str, float]:
    """The usual strong baseline: word 1-2-gram TF-IDF + a linear SVM."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform([t.lower() for t, _ in train])
    classifier = LinearSVC(C=1.0).fit(features, [i for _, i in train])
    predicted = classifier.predict(vectorizer.transform([t.lower() for t in texts]))
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0),
        "ece": float("nan"),
    }


class MemoEncoder:
    """The packaged sentence encoder, each text encoded once per benchmark run (per layer set)."""

    def __init__(self, cache: Path | None = None) -> None:
        self._seen: dict[tuple[str, str], np.ndarray] = {}
        self._cache = cache
        if cache is not None and cache.is_file():
            with np.load(cache, allow_pickle=False) as saved:
                for name in saved.files:
                    if name.startswith("texts_"):
                        tag = name.removeprefix("texts_")
                        keys = [(tag, t) for t in saved[name].tolist()]
                        self._seen.update(zip(keys, saved[f"vectors_{tag}"], strict=True))

    def save(self) -> None:
        """Keep every vector for the next run (``--embedding-cache``)."""
        if self._cache is not None and self._seen:
            arrays = {}
            for tag in {k[0] for k in self._seen}:
                texts = [t for k, t in self._seen if k == tag]
                arrays[f"texts_{tag}"] = np.array(texts)
                arrays[f"vectors_{tag}"] = np.vstack([self._seen[tag, t] for t in texts])
            np.savez(self._cache, **arrays)

    def __call__(self, texts: Sequence[str], layers: tuple[int, ...]) -> np.ndarray:
        from overheard.speech._minilm import sentence_encoder

        tag = "-".join(map(str, layers))
        new = [t for t in dict.fromkeys(texts) if (tag, t) not in self._seen]
        if new:
            vectors = sentence_encoder().encode(new, layers)
            self._seen.update(zip([(tag, t) for t in new], vectors, strict=True))
        return np.vstack([self._seen[tag, t] for t in texts])


Latency = dict[str, float]
"""p50 / p99 milliseconds per request: ``wall_*`` elapsed, ``cpu_*`` this thread's CPU time."""


def latency_ms(predict, texts: Sequence[str], count: int = 300) -> Latency:  # type: ignore[no-untyped-def]
    """Time of one ``predict(text)`` call, one request at a time, milliseconds.

    Both wall time and the calling thread's CPU time: on a shared machine the wall time mostly
    measures the other processes' load; the CPU time is what the request itself costs.
    """
    wall, cpu = [], []
    for text in list(texts)[:count]:
        started, started_cpu = time.perf_counter(), time.thread_time()
        predict(text)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return {
        "wall_p50": float(np.percentile(wall, 50)),
        "wall_p99": float(np.percentile(wall, 99)),
        "cpu_p50": float(np.percentile(cpu, 50)),
        "cpu_p99": float(np.percentile(cpu, 99)),
    }


def svc_predictor(train: Sequence[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """The TF-IDF + LinearSVC baseline as a one-request predictor (for its latency)."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform([t.lower() for t, _ in train])
    classifier = LinearSVC(C=1.0).fit(features, [i for _, i in train])
    return lambda text: classifier.predict(vectorizer.transform([text.lower()]))[0]


def majority(train: Sequence[tuple[str, str]], gold: Sequence[str]) -> dict[str, float]:
    labels = [i for _, i in train]
    top = max(set(labels), key=labels.count)
    predicted = [top] * len(gold)
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0),
        "ece": float("nan"),
    }


def run(
    name: str,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    encoder: MemoEncoder | None = None,
) -> None:
    texts, gold = [t for t, _ in test], [i for _, i in test]
    started = time.perf_counter()
    model = train_intent_model(train)
    fit_s = time.perf_counter() - started
    rows = {
        "majority class": majority(train, gold),
        "word TF-IDF + LR": word_only(train, texts, gold),
        "TF-IDF + LinearSVC (baseline)": tfidf_svc(train, texts, gold),
        "overheard n-grams": evaluate(model, texts, gold),
    }
    speed = {
        "TF-IDF + LinearSVC (baseline)": latency_ms(svc_predictor(train), texts),
        "overheard n-grams": latency_ms(model.predict, texts),
    }
    if encoder is not None:
        fused = train_intent_model(train, embeddings=True, encoder=encoder)
        rows["overheard n-grams + MiniLM embeddings"] = evaluate(fused, texts, gold)
        with tempfile.TemporaryDirectory() as tmp:
            fused.save(Path(tmp) / "m.npz")  # reloaded: the real (uncached) encoder
            served = IntentModel.load(Path(tmp) / "m.npz")
        served.predict(texts[0])  # the encoder's one-off start (graph build) is not a request
        speed["overheard n-grams + MiniLM embeddings"] = latency_ms(served.predict, texts)
    print(
        f"\n{name}: {len(train)} train, {len(test)} test, {len(set(gold))} intents; fit {fit_s:.1f} s"
    )
    print(
        "| model | accuracy | macro-F1 | ECE | CPU ms p50 / p99 | wall ms p50 / p99 |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    for label, m in rows.items():
        t = speed.get(label)
        cpu = f"{t['cpu_p50']:.1f} / {t['cpu_p99']:.1f}" if t else ""
        wall = f"{t['wall_p50']:.1f} / {t['wall_p99']:.1f}" if t else ""
        print(
            f"| {label} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['ece']:.3f} "
            f"| {cpu} | {wall} |"
        )


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


def read_slurp(path: Path) -> list[tuple[str, str]]:
    """(normalised sentence, intent) rows of a SLURP ``.jsonl`` file."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((" ".join(row["sentence"].lower().split()), row["intent"]))
    return rows


def slurp_split(path: Path, heldout_percent: int = 30) -> tuple[list, list]:  # type: ignore[type-arg]
    """SLURP devel rows split by sentence (hash of the normalised sentence): (train, tuning)."""
    train, test = [], []
    for sentence, intent in read_slurp(path):
        bucket = int(hashlib.sha256(sentence.encode()).hexdigest(), 16) % 100
        (test if bucket < heldout_percent else train).append((sentence, intent))
    return train, test


def sentence_key(text: str) -> str:
    """A sentence reduced to its letters and digits: the key duplicates are found by."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def hwu_as_slurp(
    folder: Path, intents: set[str], exclude: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """HWU64 requests (all folds) whose intent is also a SLURP intent, as SLURP training rows.

    The two share their label scheme (``scenario_intent``; SLURP's prompts grew out of the HWU64
    collection): the 56 intents found in both are taken as they are, the 8 HWU64-only ones
    (general_affirm, ...) are left out. Any request whose sentence is in ``exclude`` (the rows
    evaluated, and when tuning also the test rows) is dropped, and the count is printed.
    """
    excluded = {sentence_key(t) for t, _ in exclude}
    rows = [
        (t.lower(), i) for k in range(1, 10) for t, i in read_hwu_fold(folder / f"fold_{k}.csv")
    ]
    shared = [(t, i) for t, i in rows if i in intents]
    kept = [(t, i) for t, i in shared if sentence_key(t) not in excluded]
    print(
        f"\nHWU64 as SLURP training rows: {len(rows)} requests, {len(shared)} of SLURP intents, "
        f"{len(shared) - len(kept)} dropped (sentence among {len(exclude)} excluded rows), "
        f"{len(kept)} kept"
    )
    return kept


def tune(
    folder: Path, slurp: Path, encoder: MemoEncoder, test: Sequence[tuple[str, str]] = ()
) -> None:
    """The embedding classifier's C and weight on HWU64 folds 1-7 -> fold 8 and on SLURP devel
    split by sentence (70 -> 30 %, also with HWU64 rows, none whose sentence is in the 30 % or in
    SLURP ``test``); never on HWU64 fold 9 or SLURP test."""
    from overheard.speech import nlu

    parts = {
        "HWU64 folds 1-7 -> fold 8": (
            [row for k in range(1, 8) for row in read_hwu_fold(folder / f"fold_{k}.csv")],
            read_hwu_fold(folder / "fold_8.csv"),
        )
    }
    if slurp.is_file():
        train, dev = slurp_split(slurp)
        parts["SLURP devel by sentence, 70 -> 30 %"] = (train, dev)
        extra = hwu_as_slurp(folder, {i for _, i in train}, [*dev, *test])
        parts["SLURP devel 70 % + HWU64 -> 30 %"] = (train + extra, dev)
    for name, (train, dev) in parts.items():
        texts, gold = [t for t, _ in dev], [i for _, i in dev]
        print(f"\ntuning on {name}\n| C | weight | accuracy |\n| --- | --- | --- |")
        for c in (5.0, 20.0):
            nlu.EMBEDDING_C = c
            model = train_intent_model(train, embeddings=True, encoder=encoder)
            for weight in (1.0, 1.5, 2.0):
                nlu.EMBEDDING_WEIGHT = weight
                print(f"| {c} | {weight} | {evaluate(model, texts, gold)['accuracy']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--embeddings", action="store_true", help="also the MiniLM model")
    parser.add_argument("--tune", action="store_true", help="print the fold-8 tuning grid")
    parser.add_argument("--embedding-cache", type=Path, help="a .npz keeping vectors across runs")
    parser.add_argument("--sets", nargs="*", default=["seed", "slurp", "hwu64"])
    parser.add_argument(
        "--slurp-test",
        type=Path,
        help="SLURP's test.jsonl (default <data>/nlu/slurp/test.jsonl; from the SLURP repository)",
    )
    parser.add_argument(
        "--slurp-train",
        choices=["devel", "devel+hwu64", "both"],
        default="both",
        help="SLURP training rows: devel, devel plus the HWU64 requests of SLURP intents "
        "(any sentence of the test split dropped), or one run of each",
    )
    parser.add_argument(
        "--layers", type=int, nargs="+", help="encoder layers the embedding classifier reads"
    )
    parser.add_argument("--int8", action="store_true", help="the encoder with int8 feed-forward")
    args = parser.parse_args()
    if args.int8:
        from overheard.speech import _minilm

        _minilm.INT8 = True
    if args.layers:
        from overheard.speech import nlu

        nlu.EMBEDDING_LAYERS = tuple(args.layers)
    cache = args.embedding_cache
    encoder = MemoEncoder(cache) if args.embeddings or args.tune else None
    seed = [(r.text, r.intent) for r in seed_requests("train")]
    held = [(r.text, r.intent) for r in seed_requests("heldout")]
    if "seed" in args.sets:
        run("seed held-out phrasings", seed, held, encoder)
    slurp = args.data / "nlu" / "slurp" / "devel.jsonl"
    slurp_test = args.slurp_test or args.data / "nlu" / "slurp" / "test.jsonl"
    folder = args.data / "nlu" / "hwu64"
    if "slurp" in args.sets and slurp.is_file() and slurp_test.is_file():
        rows, devel = read_slurp(slurp_test), read_slurp(slurp)
        if args.slurp_train in ("devel", "both"):
            run(f"SLURP official test ({slurp_test.name}), trained on devel", devel, rows, encoder)
        if args.slurp_train in ("devel+hwu64", "both") and folder.is_dir():
            extra = hwu_as_slurp(folder, {i for _, i in devel}, rows)
            name = f"SLURP official test ({slurp_test.name}), trained on devel + HWU64"
            run(name, devel + extra, rows, encoder)
    elif "slurp" in args.sets and slurp.is_file():
        print(f"\nSLURP test split not found at {slurp_test} (give --slurp-test)")
        name = "SLURP devel by sentence, 70 % -> 30 % (the TUNING split, not a held-out result)"
        run(name, *slurp_split(slurp), encoder)
    if not folder.is_dir():
        print(f"\nHWU64 not found at {folder}: skipped")
        privacy(held, [])
        return
    if args.tune and encoder is not None:
        tune(folder, slurp, encoder, read_slurp(slurp_test) if slurp_test.is_file() else [])
        encoder.save()
        return
    train = [row for k in range(1, 9) for row in read_hwu_fold(folder / f"fold_{k}.csv")]
    test = read_hwu_fold(folder / "fold_9.csv")
    if "hwu64" in args.sets:
        run("HWU64 folds 1-8 -> held-out fold 9", train, test, encoder)
        print(f"published commercial NLU services on HWU64 (10-fold): F1 {PUBLISHED_F1}")
    if encoder is not None:
        encoder.save()
    privacy(held, [t for t, _ in test])


if __name__ == "__main__":
    main()
