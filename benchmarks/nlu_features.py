"""Other features beside the kept intent model, on the tuning splits only (never HWU64 fold 9 or
SLURP test): max-pooled token states, nearest-centroid scores, word-class and lemma-pair n-grams,
word-dropout augmentation.

Run from the repository root:

    PYTHONPATH=src:benchmarks nice -n 5 .venv/bin/python benchmarks/nlu_features.py \
        --data ../shared/data --slurp-test <slurp>/dataset/slurp/test.jsonl --cache /tmp/tokens.npz

Splits: HWU64 folds 1-7 -> fold 8 (``H``) and SLURP devel 70 -> 30 % by sentence, trained also on
the HWU64 rows of SLURP intents whose sentence is in neither the 30 % nor SLURP test (``S``, as
``benchmarks/nlu.py --tune``; the test file is read only to drop those rows). The kept model (n-gram
log-odds + 1.5 x the C 5 logistic regression on the mean-pooled last layer) is recomputed in the
same run. Token states of every layer come from the encoder's NumPy forward pass (equal to the
ONNX one to 1e-4), mean- and max-pooled per request and kept in ``--cache``. Printed per variant:
accuracy alone, added to the n-grams and added to the kept model at several weights.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from nlu import hwu_as_slurp, read_hwu_fold, read_slurp, slurp_split
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from overheard.speech import _minilm
from overheard.speech.nlu import (
    _CHAR_PARAMS,
    _WORD_PARAMS,
    EMBEDDING_C,
    EMBEDDING_WEIGHT,
    MAX_ITERATIONS,
    REGULARISATION_C,
)

Rows = list[tuple[str, str]]
TOKEN = re.compile(r"(?u)\b[\w']+\b")
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    " sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety"
    " hundred thousand million half quarter".split()
)
DAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday weekend today tomorrow tonight"
    " yesterday".split()
)
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
TIME_WORDS = frozenset(
    {"am", "pm", "a.m.", "p.m.", "o'clock", "noon", "midnight", "morning", "evening", "afternoon"}
)
UNITS = frozenset(
    "minute minutes hour hours second seconds percent degrees dollars days weeks".split()
)
STOP_WORDS = frozenset(
    "a an the to for of in on at is are be me my i you your it this that what please can could"
    " would will do does and or with from".split()
)


def token_states(texts: Sequence[str], cache: Path) -> dict[str, np.ndarray]:
    """Per text and layer, the mean, max and max-over-word-pieces (no [CLS]/[SEP]) of the token
    states: arrays (texts, 6, 384), with ``texts``; read from ``cache`` when it holds them all."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            kept = {name: saved[name] for name in saved.files}
        if set(texts) <= set(kept["texts"].tolist()):
            return kept
    ordered = sorted(set(texts))
    encoder = _minilm.SentenceEncoder(_minilm.model_dir(), runtime="numpy")
    w = encoder._w
    ids_all = [encoder._tokenizer.encode(t).ids for t in ordered]
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(ids_all):
        by_length.setdefault(len(ids), []).append(index)
    shape = (len(ordered), _minilm.LAYERS, _minilm.DIMENSIONS)
    mean, top, inner = (np.zeros(shape, np.float32) for _ in range(3))
    started = time.perf_counter()
    for length, rows in by_length.items():
        for start in range(0, len(rows), _minilm.BATCH):
            chunk = rows[start : start + _minilm.BATCH]
            ids = np.array([ids_all[i] for i in chunk])
            h = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:length]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            h = _minilm._layer_norm(h, w, "embeddings.LayerNorm")
            for layer in range(_minilm.LAYERS):
                h = _minilm._encoder_layer(h, w, f"encoder.layer.{layer}")
                mean[chunk, layer] = h.mean(axis=1)
                top[chunk, layer] = h.max(axis=1)
                inner[chunk, layer] = h[:, 1:-1].max(axis=1) if length > 2 else h.max(axis=1)
    print(f"token states of {len(ordered)} texts: {time.perf_counter() - started:.0f} s")
    kept = {"texts": np.array(ordered), "mean": mean, "max": top, "maxin": inner}
    np.savez(cache, **kept)
    return kept


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12))


# name -> the (pooling, layer) parts laid side by side (each unit length, the whole scaled by 1/sqrt(n))
POOLINGS: dict[str, tuple[tuple[str, int], ...]] = {
    "mean-pooled last layer (kept)": (("mean", 6),),
    "max-pooled last layer (all tokens)": (("max", 6),),
    "max-pooled last layer, word pieces only": (("maxin", 6),),
    "mean- and max-pooled last layer": (("mean", 6), ("max", 6)),
    "mean-pooled and max-pooled (word pieces) last layer": (("mean", 6), ("maxin", 6)),
    "mean-pooled last layer and max-pooled layer 3": (("mean", 6), ("max", 3)),
    "max-pooled layers 5 and 6": (("max", 5), ("max", 6)),
}


class Features:
    def __init__(self, states: dict[str, np.ndarray]) -> None:
        self._states = states
        self._index = {t: i for i, t in enumerate(states["texts"].tolist())}

    def __call__(self, name: str, texts: Sequence[str]) -> np.ndarray:
        rows = np.array([self._index[t] for t in texts])
        parts = [unit(self._states[p][rows, layer - 1]) for p, layer in POOLINGS[name]]
        return np.hstack(parts) / np.sqrt(len(parts))


def word_class(token: str) -> str | None:
    if re.fullmatch(r"\d+(?:st|nd|rd|th)?", token) or token in NUMBER_WORDS:
        return "NUM"
    if re.fullmatch(r"\d{1,2}[:.]\d{2}", token) or token in TIME_WORDS:
        return "TIME"
    if token in DAYS:
        return "DAY"
    if token in MONTHS:
        return "MONTH"
    return "UNIT" if token in UNITS else None


def class_terms(text: str) -> list[str]:
    """Word-class tokens, and their 2-/3-grams with the words beside them."""
    mapped = [word_class(t) or t for t in TOKEN.findall(text)]
    terms = [m for m in mapped if m.isupper()]
    terms += [f"{a} {b}" for a, b in itertools.pairwise(mapped) if a.isupper() or b.isupper()]
    terms += [
        f"{a} {b} {c}"
        for a, b, c in zip(mapped, mapped[1:], mapped[2:], strict=False)
        if b.isupper()
    ]
    return terms


def lemma(token: str) -> str:
    for suffix, instead in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)] + instead
    return token


def pair_terms(text: str) -> list[str]:
    """Unordered pairs of content-word lemmas (suffix-stripped, stop words out)."""
    words = sorted({lemma(t) for t in TOKEN.findall(text) if t not in STOP_WORDS})
    return [f"{a}|{b}" for i, a in enumerate(words) for b in words[i + 1 :]]


def ngram_scores(
    train: Rows, dev: Sequence[str], extra: Sequence[Callable[[str], list[str]]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The kept n-gram model's log-odds (word + char TF-IDF, LR C 20, newton-cg), with ``extra``
    analysers as more TF-IDF blocks; (scores, classes)."""
    vectorizers = [TfidfVectorizer(**_WORD_PARAMS), TfidfVectorizer(**_CHAR_PARAMS)]
    vectorizers += [TfidfVectorizer(analyzer=a, sublinear_tf=True) for a in extra]
    texts = [t for t, _ in train]
    x = hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
    d = hstack([v.transform(dev) for v in vectorizers]).tocsr()
    classifier = LogisticRegression(
        C=REGULARISATION_C, solver="newton-cg", max_iter=MAX_ITERATIONS
    ).fit(x, [i for _, i in train])
    return classifier.decision_function(d), classifier.classes_


def lr_scores(x: np.ndarray, labels: Sequence[str], d: np.ndarray) -> np.ndarray:
    classifier = LogisticRegression(C=EMBEDDING_C, max_iter=MAX_ITERATIONS).fit(x, list(labels))
    return np.asarray(classifier.decision_function(d))


def accuracy(scores: np.ndarray, classes: np.ndarray, gold: Sequence[str]) -> str:
    return f"{float(np.mean(classes[np.argmax(scores, axis=1)] == np.array(gold))):.3f}"


def grid(base: np.ndarray, new: np.ndarray, weights: Sequence[float], classes, gold) -> str:  # type: ignore[no-untyped-def]
    return " / ".join(accuracy(base + w * new, classes, gold) for w in weights)


def measure(name: str, train: Rows, dev: Rows, features: Features, ngram_variants: bool) -> None:
    texts, gold = [t for t, _ in dev], [i for _, i in dev]
    labels = [i for _, i in train]
    ngrams, classes = ngram_scores(train, texts)
    kept_name = "mean-pooled last layer (kept)"
    embedded = lr_scores(
        features(kept_name, [t for t, _ in train]), labels, features(kept_name, texts)
    )
    kept = ngrams + EMBEDDING_WEIGHT * embedded
    print(
        f"\n{name}: {len(train)} train, {len(dev)} tuning; n-grams {accuracy(ngrams, classes, gold)},"
        f" embeddings {accuracy(embedded, classes, gold)}, kept {accuracy(kept, classes, gold)}"
    )
    print("| variant | alone | + n-grams (w 1 / 1.5 / 2 / 3) | + kept (w 0.5 / 1 / 1.5) |")
    print("| --- | --- | --- | --- |")
    for pooling in list(POOLINGS)[1:]:
        new = lr_scores(features(pooling, [t for t, _ in train]), labels, features(pooling, texts))
        print(
            f"| {pooling} | {accuracy(new, classes, gold)} "
            f"| {grid(ngrams, new, (1, 1.5, 2, 3), classes, gold)} "
            f"| {grid(kept, new, (0.5, 1, 1.5), classes, gold)} |"
        )
    print("| nearest centroid | alone | | + kept (beta 2 / 5 / 10 / 20) |")
    for pooling in [*list(POOLINGS)[:2], list(POOLINGS)[3]]:
        x = features(pooling, [t for t, _ in train])
        centroids = unit(np.vstack([x[np.array(labels) == c].mean(axis=0) for c in classes]))
        cosine = features(pooling, texts) @ centroids.T
        print(
            f"| centroid, {pooling} | {accuracy(cosine, classes, gold)} | "
            f"| {grid(kept, cosine, (2, 5, 10, 20), classes, gold)} |"
        )
    if not ngram_variants:
        return
    print("| n-gram variant | n-grams alone | | + embeddings (w 1 / 1.5 / 2) |")
    for label, extra in (("word classes", [class_terms]), ("lemma pairs", [pair_terms])):
        scores, _ = ngram_scores(train, texts, extra)
        print(
            f"| {label} | {accuracy(scores, classes, gold)} | "
            f"| {grid(scores, embedded, (1, 1.5, 2), classes, gold)} |"
        )
    rng = random.Random(0)
    augmented = []
    for text, intent in train:
        words = text.split()
        if len(words) >= 4:
            drop = rng.randrange(len(words))
            augmented.append((" ".join(words[:drop] + words[drop + 1 :]), intent))
    both = train + augmented
    scores, _ = ngram_scores(both, texts)
    vectors = np.vstack(
        [
            features(kept_name, [t for t, _ in train]),
            _minilm.sentence_encoder().encode([t for t, _ in augmented]),
        ]
    )
    semantic = lr_scores(vectors, [i for _, i in both], features(kept_name, texts))
    weights = (1, 1.5, 2)
    print(
        f"| one word dropped ({len(augmented)} more rows), both models "
        f"(embeddings alone {accuracy(semantic, classes, gold)}) | {accuracy(scores, classes, gold)} "
        f"| | {grid(scores, semantic, weights, classes, gold)} |"
    )
    print(
        f"| same, the n-gram model alone / the embedding model alone | | "
        f"| {grid(scores, embedded, weights, classes, gold)}; "
        f"{grid(ngrams, semantic, weights, classes, gold)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--slurp-test", type=Path, required=True, help="read only to drop rows")
    parser.add_argument("--cache", type=Path, required=True, help="a .npz of the token states")
    parser.add_argument("--sets", nargs="*", default=["H", "S"])
    args = parser.parse_args()
    folder = args.data / "nlu" / "hwu64"
    h_train = [
        (t.lower(), i) for k in range(1, 8) for t, i in read_hwu_fold(folder / f"fold_{k}.csv")
    ]
    h_dev = [(t.lower(), i) for t, i in read_hwu_fold(folder / "fold_8.csv")]
    s_train, s_dev = slurp_split(args.data / "nlu" / "slurp" / "devel.jsonl")
    extra = hwu_as_slurp(folder, {i for _, i in s_train}, [*s_dev, *read_slurp(args.slurp_test)])
    hwu_all = [t.lower() for k in range(1, 10) for t, _ in read_hwu_fold(folder / f"fold_{k}.csv")]
    texts = hwu_all + [t for t, _ in s_train + s_dev]
    features = Features(token_states(texts, args.cache))
    if "H" in args.sets:
        measure("HWU64 folds 1-7 -> fold 8", h_train, h_dev, features, ngram_variants=True)
    if "S" in args.sets:
        name = "SLURP devel 70 % + HWU64 -> devel 30 %"
        measure(name, s_train + extra, s_dev, features, ngram_variants=False)


if __name__ == "__main__":
    main()
