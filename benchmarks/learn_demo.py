"""The learning loop, measured: adaptation on the demo world, the cards set, SLURP intents.

Run: .venv/bin/python benchmarks/learn_demo.py [--data ../shared/data] [--train 200] [--heldout 50]
     [--report var/learn-report.html]

1. Demo world (synthetic, see overheard.learn.demo_world; review is simulated with the true labels):
   held-out clips first, then the training side in stages; an ASR and an NLU version is trained after
   each stage and a lead approves the last. Split by household and sentence (the last household
   speaks only held-out sentences); ``overheard evaluate`` also scores the external held-out set.
   Baselines in the same run: the recogniser in use, unadapted (with pocketsphinx: the generic en-us
   and the seed-domain models); the seed intent model.
2. asr/cards: generic en-us vs a trigram model built from the set's own five transcripts (in-sample,
   as the issue asks) and leave-one-out (the fair number).
3. nlu/slurp/devel.jsonl: the intent model under 5-fold cross-validation; majority class as baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from sklearn.model_selection import StratifiedKFold

from overheard.accounts.service import create_staff
from overheard.config import Settings
from overheard.db import transaction
from overheard.identity.service import enrol_household
from overheard.learn.approval import approve
from overheard.learn.demo_world import World
from overheard.learn.evaluate import evaluate
from overheard.learn.metrics import intent_score, wer
from overheard.learn.report import terminal_tables, write_report
from overheard.learn.train_asr import train_asr
from overheard.learn.train_nlu import train_nlu
from overheard.learn.training import TrainOptions
from overheard.platform import Platform, initialise
from overheard.speech.asr import asr_from_spec
from overheard.speech.lm import build_language_model
from overheard.speech.nlu import train_intent_model
from overheard.tasks import register_all

FOLDS = 5
console = Console()


def demo(tmp: Path, train: int, heldout: int, report: Path) -> None:
    settings = Settings(data_dir=tmp / "data").resolved()
    initialise(settings)
    platform = Platform.open(settings)
    register_all()  # every job kind and hook, as a worker has them

    def enrol():  # type: ignore[no-untyped-def]
        tag = uuid.uuid4().hex[:8]
        with transaction(platform.sessions) as s:
            return enrol_household(
                s,
                platform.keyring,
                platform.secrets,
                name="Demo",
                account=tag,
                email=f"{tag}@demo.test",
                serial=tag,
            )

    world = World.create(platform, enrol, households=4)
    started = time.perf_counter()
    world.populate(0, heldout)
    options = TrainOptions(models_dir=tmp / "models", actor="benchmark")
    stages = sorted({max(1, train // 4), train // 2, train})
    for stage in stages:
        world.populate(stage, heldout)
        asr, nlu = train_asr(platform, options), train_nlu(platform, options)
        print(
            f"stage: {stage} reviewed training clips -> {asr.version_id} ({asr.trained_on} clips), "
            f"{nlu.version_id}"
        )
    print(f"world: {world.stats} in {time.perf_counter() - started:.0f} s")
    with transaction(platform.sessions) as s:
        lead, _ = create_staff(s, name="Lead", role="lead")
        approve(s, asr.version_id, lead.id)
        approve(s, nlu.version_id, lead.id)
    started = time.perf_counter()
    result = evaluate(platform)
    print(f"evaluation: {time.perf_counter() - started:.0f} s")
    for table in terminal_tables(result):
        console.print(table)
    baselines = [r for r in result.asr if r.version_id is None]
    before = baselines[-1]  # the default recogniser, unadapted
    after = next(r for r in result.asr if r.version_id == asr.version_id)
    print(
        f"held-out (new households, new sentences; left out {result.left_out}): "
        f"WER {before.label} {before.wer:.3f} -> {after.label} {after.wer:.3f}"
        f" (x{before.wer / max(after.wer, 1e-9):.2f})"
    )
    external = {r.label: r.wer for r in result.external}
    if external:
        print(
            f"external held-out ({result.external_clips} spoken requests): WER {before.label} "
            f"{external[before.label]:.3f} -> {after.label} {external[after.label]:.3f}"
        )
    print(f"report: {write_report(result, report)}")
    platform.close()


def read_cards(folder: Path) -> list[tuple[str, np.ndarray]]:
    clips = []
    for line in (folder / "cards.transcription").read_text().splitlines():
        text, _, fileid = line.rpartition("(")
        ref = text.replace("<s>", "").replace("</s>", "").strip()
        pcm, _ = sf.read(folder / f"{fileid.strip(' )')}.wav", dtype="int16")
        clips.append((ref, pcm))
    return clips


def cards(data: Path, tmp: Path) -> None:
    clips = read_cards(data / "asr" / "cards")
    refs = [r for r, _ in clips]
    generic = asr_from_spec("pocketsphinx:generic")
    build_language_model(refs, tmp / "cards-all")
    in_sample = asr_from_spec(f"pocketsphinx:{tmp / 'cards-all'}")
    loo = []
    for i, (_, pcm) in enumerate(clips):
        folder = tmp / f"cards-loo-{i}"
        build_language_model([r for j, r in enumerate(refs) if j != i], folder)
        loo.append(asr_from_spec(f"pocketsphinx:{folder}").transcribe(pcm).text)
    print(f"\nasr/cards: {len(clips)} utterances, {sum(len(r.split()) for r in refs)} words")
    print("| recogniser | WER |\n| --- | --- |")
    print(
        f"| generic en-us (baseline) | {wer(refs, [generic.transcribe(p).text for _, p in clips]):.3f} |"
    )
    print(
        f"| LM from its 5 transcripts (in-sample) | {wer(refs, [in_sample.transcribe(p).text for _, p in clips]):.3f} |"
    )
    print(f"| LM from the other 4 (leave-one-out) | {wer(refs, loo):.3f} |")


def slurp(data: Path) -> None:
    rows = [
        json.loads(line)
        for line in (data / "nlu" / "slurp" / "devel.jsonl").read_text().splitlines()
        if line
    ]
    texts = np.array([r["sentence"] for r in rows])
    intents = np.array([r["intent"] for r in rows])
    counts = Counter(intents)
    keep = np.array([counts[i] >= FOLDS for i in intents])
    texts, intents = texts[keep], intents[keep]
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    acc, f1, majority = [], [], []
    for train_idx, test_idx in folds.split(texts, intents):
        model = train_intent_model(zip(texts[train_idx], intents[train_idx], strict=True))
        predicted = [model.predict(t).intent for t in texts[test_idx]]
        score = intent_score(list(intents[test_idx]), predicted)
        acc.append(score.accuracy)
        f1.append(score.macro_f1)
        top = Counter(intents[train_idx]).most_common(1)[0][0]
        majority.append(float(np.mean(intents[test_idx] == top)))
    print(
        f"\nnlu/slurp/devel.jsonl: {len(texts)} requests, {len(set(intents))} intents "
        f"({int((~keep).sum())} requests of intents with < {FOLDS} examples left out), {FOLDS}-fold CV"
    )
    print("| model | accuracy | macro-F1 |\n| --- | --- | --- |")
    print(f"| majority class (baseline) | {statistics.mean(majority):.3f} | – |")
    print(
        f"| intent model (TF-IDF + logistic regression) | {statistics.mean(acc):.3f} ± {statistics.stdev(acc):.3f} "
        f"| {statistics.mean(f1):.3f} ± {statistics.stdev(f1):.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--train", type=int, default=200, help="reviewed training clips")
    parser.add_argument("--heldout", type=int, default=50, help="reviewed held-out clips")
    parser.add_argument("--report", type=Path, default=Path("var/learn-report.html"))
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="overheard-learn-") as tmp:
        if not args.skip_demo:
            demo(Path(tmp), args.train, args.heldout, args.report)
        if (args.data / "asr" / "cards").is_dir():
            cards(args.data, Path(tmp))
            slurp(args.data)
        else:
            print(f"evaluation data not found at {args.data}: cards and SLURP skipped")


if __name__ == "__main__":
    main()
