"""What the household rule of `train nlu` costs in intent accuracy (SLURP devel, n-grams alone).

Run: PYTHONPATH=src:benchmarks nice -n 5 .venv/bin/python benchmarks/nlu_households.py
     [--data ../shared/data] [--households 10 30] [--min-households 1 2 3]

SLURP devel (CC BY 4.0), stratified 5-fold cross-validation as in learn_demo.py; each training
request is given to one of H households at random (seeded), standing in for reviewed transcripts,
and the model keeps only the word and character n-grams ``k`` households' requests hold
(``learn.train_nlu.shared_features``; k = 1 is the model without the rule, the baseline of the same
run). No seed requests (SLURP's intents are not the project's), so every feature is under the rule.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from overheard.learn.metrics import intent_score
from overheard.learn.train_nlu import shared_features
from overheard.speech.nlu import train_intent_model

FOLDS = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--households", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--min-households", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    rows = [
        json.loads(line)
        for line in (args.data / "nlu" / "slurp" / "devel.jsonl").read_text().splitlines()
        if line
    ]
    texts = np.array([r["sentence"].lower() for r in rows])
    intents = np.array([r["intent"] for r in rows])
    counts = Counter(intents)
    keep = np.array([counts[i] >= FOLDS for i in intents])
    texts, intents = texts[keep], intents[keep]
    folds = list(
        StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0).split(texts, intents)
    )
    print(f"SLURP devel: {len(texts)} requests, {len(set(intents))} intents, {FOLDS}-fold CV")
    print(
        "| households | k | word features kept | accuracy | macro-F1 |\n| --- | --- | --- | --- | --- |"
    )
    for households in args.households:
        rng = random.Random(households)
        owner = [f"hh{rng.randrange(households)}" for _ in texts]
        for k in args.min_households:
            acc, f1, kept = [], [], []
            for train_idx, test_idx in folds:
                said = [(owner[i], str(texts[i])) for i in train_idx]
                features = shared_features(said, min_households=k)
                everything = shared_features(said, min_households=1)
                kept.append(len(features[0]) / len(everything[0]))
                model = train_intent_model(
                    zip(texts[train_idx], intents[train_idx], strict=True), features=features
                )
                predicted = [model.predict(t).intent for t in texts[test_idx]]
                score = intent_score(list(intents[test_idx]), predicted)
                acc.append(score.accuracy)
                f1.append(score.macro_f1)
            print(
                f"| {households} | {k} | {statistics.mean(kept):.2f} | "
                f"{statistics.mean(acc):.3f} ± {statistics.stdev(acc):.3f} | "
                f"{statistics.mean(f1):.3f} ± {statistics.stdev(f1):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
