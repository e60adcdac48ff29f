"""Trains the name tagger of ``overheard.protect._name_tagger`` on the tuning splits and reports
its held-apart-fold figures there; writes ``src/overheard/protect/data/name_tagger.npz``.

Run: ``python benchmarks/redaction_tagger.py [--data DIR] [--no-write]``

Training data: the tuning splits of ``benchmarks/redaction_names.py`` only (SLURP devel even ids,
HWU64 folds 1–5; CC BY 4.0), every word labelled by whether a ``[person : …]`` slot covers it.
The threshold and the features were chosen on five held-apart folds of these requests (by text,
so a request repeated in the data stays in one fold): each fold's words are scored by a model
fit on the other four, and the rules + tagger union is compared with the rules alone. The
held-out splits are never read here.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
from redaction import Example, evaluate
from redaction_names import DATA_DIR, hwu64, slurp
from sklearn.linear_model import LogisticRegression

from overheard.protect import _name_tagger as tagger
from overheard.protect._tokens import Token, tokenize
from overheard.protect.redact import Span, find_pii, merge
from overheard.speech._minilm import sentence_encoder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "overheard" / "protect" / "data" / tagger.WEIGHTS
FOLDS = 5
C = 1.0
"""Inverse L2 strength of the logistic regression (1.0 and 0.3 tried on the folds)."""


def rows(data: Path) -> list[tuple[str, Example, bool]]:
    """(set name, request, clean command) of the tuning splits."""
    out = []
    for name, requests in (("slurp", slurp(data)), ("hwu64", hwu64(data))):
        out += [(name, ex, clean) for ex, clean in requests if ex.split == "tune"]
    return out


def word_rows(ex: Example) -> tuple[list[Token], list[Span], np.ndarray, np.ndarray]:
    """Words, the rules' names, feature rows and labels of one request."""
    tokens = tokenize(ex.text)
    rules = [s for s in find_pii(ex.text, tagger=False) if s.entity == "NAME"]
    by_rules = [any(s.start < t.end and t.start < s.end for s in rules) for t in tokens]
    states, offsets = sentence_encoder().token_states(ex.text, tagger.LAYER)
    x = tagger.features(tokens, by_rules, states, offsets)
    gold = [s for s in ex.spans if s.entity == "NAME"]
    y = np.array([any(s.start < t.end and t.start < s.end for s in gold) for t in tokens])
    return tokens, rules, x, y


def runs(tokens: list[Token], p: np.ndarray) -> list[Span]:
    """Spans of the tagger's runs of words (as ``tagged_names`` forms them)."""
    found, run = [], None
    for token, q in zip(tokens, p, strict=True):
        if q > tagger.THRESHOLD and (run is not None or tagger._may_start(token)):
            run = (run[0] if run else token.start, token.stem_end)
            continue
        if run is not None:
            found.append(Span(*run, "NAME"))
            run = None
    if run is not None:
        found.append(Span(*run, "NAME"))
    return found


def main() -> None:
    """Print the held-apart-fold figures, then fit on all tuning requests and save."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    requests = rows(args.data)
    words = [word_rows(ex) for _, ex, _ in requests]
    folds = np.array([zlib.crc32(ex.text.encode()) % FOLDS for _, ex, _ in requests])
    held_apart: list[np.ndarray] = [np.zeros(0)] * len(requests)
    for fold in range(FOLDS):
        fit = [w for w, f in zip(words, folds, strict=True) if f != fold]
        model = LogisticRegression(C=C, max_iter=2000)
        model.fit(np.vstack([w[2] for w in fit]), np.concatenate([w[3] for w in fit]))
        for k in np.flatnonzero(folds == fold):
            held_apart[k] = model.predict_proba(words[k][2])[:, 1]
    rules = {ex.text: find_pii(ex.text, tagger=False) for _, ex, _ in requests}
    union = {
        ex.text: merge([*rules[ex.text], *runs(w[0], p)])
        for (_, ex, _), w, p in zip(requests, words, held_apart, strict=True)
    }
    print(
        f"tuning split, {FOLDS} held-apart folds; threshold {tagger.THRESHOLD}, layer {tagger.LAYER}"
    )
    print(
        "| set | gold names | rules recall | rules + tagger recall | clean commands "
        "| falsely redacted, rules | rules + tagger |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in ("slurp", "hwu64"):
        mine = [(ex, clean) for n, ex, clean in requests if n == name]
        examples = [ex for ex, _ in mine]
        a = evaluate(examples, lambda t: rules[t]).tallies["NAME"]
        b = evaluate(examples, lambda t: union[t]).tallies["NAME"]
        clean = [ex.text for ex, ok in mine if ok and not ex.spans]
        print(
            f"| {name} | {a.tp + a.fn} | {a.recall():.3f} | {b.recall():.3f} | {len(clean)} "
            f"| {sum(bool(rules[t]) for t in clean)} | {sum(bool(union[t]) for t in clean)} |"
        )
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(np.vstack([w[2] for w in words]), np.concatenate([w[3] for w in words]))
    if not args.no_write:
        np.savez_compressed(
            OUT,
            coef=model.coef_[0].astype(np.float32),
            intercept=model.intercept_.astype(np.float32),
        )
        print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
