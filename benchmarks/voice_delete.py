"""Voice deletion both ways: accidental triggers on ordinary speech, obeyed real deletion requests.

Run: .venv/bin/python benchmarks/voice_delete.py [--data ../shared/data] [--asr SPEC] [--cache F]

Every clip goes through the pipeline's own request path (VAD -> recogniser -> intent model -> the
deletion guard) as if the wake word had just been heard: the worst case, since in use most ordinary
speech never passes the wake word. Baseline from the same run: the rule before the guard (intent
probability >= 0.8 only).

- ordinary speech (test, >= 2,000 clips): LibriSpeech test-other, librivox, the seed requests that
  are not deletions, HWU64 folds 2-9 and SLURP devel texts (every one that uses a deletion verb —
  "delete my morning alarm" — plus a sample of the rest), espeak-ng voices in rotation;
- real deletions (test): tests/speech/data/voice_deletions_new_heldout.tsv (30 phrasings, split off
  before any tuning of the spoken-yes design and never looked at while tuning) and
  voice_deletions_external.tsv (36 phrasings; the guard's word lists were changed after a first
  run on them, so they are reported apart), in four voices none of the tuning set uses;
- spoken yes: "yes" / "yes please" in every voice; a deletion that waits for a yes is obeyed only
  when its voice's yes is heard as one; an ordinary clip that passes the guard is a false deletion
  only when the ordinary clip after it is heard as a yes (nobody answered the question);
- tuning (what the thresholds and word lists were chosen on): the seed deletions (training and
  held-out phrasings) and voice_deletions_new_tuning.tsv in three voices, and HWU64 fold 1 (every
  text with a deletion verb plus a sample). Printed apart; never part of the test figures.

``--nlu`` picks the intent model judged with (both fitted on the seed requests): ``embeddings``
(the default model whenever the encoder's package is installed) or ``ngrams``; the cache keeps
transcripts, the intent is re-predicted.

``--cache`` keeps each clip's transcript so that a rerun only re-judges.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from overheard.config import Settings
from overheard.demo import synthesise
from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import DeletionGuard, Verdict, is_confirmation, judge
from overheard.speech.nlu import DELETION_WORDS, Interpretation, is_privacy_command
from overheard.speech.pipeline import SpeechStack, understand, without_keywords
from overheard.speech.seed import seed_requests

SAMPLE_RATE_HZ = 16000
ROOT = Path(__file__).resolve().parents[1]
WORDING = ROOT / "tests" / "speech" / "data"
EXTERNAL = WORDING / "voice_deletions_external.tsv"
NEW_HELDOUT = WORDING / "voice_deletions_new_heldout.tsv"
NEW_TUNING = WORDING / "voice_deletions_new_tuning.tsv"
YES = ("yes", "yes please")
ORDINARY_VOICES = ("en-us", "en-gb", "en+f3", "en-us+m3", "en-gb-scotland", "en+f4")
TUNING_VOICES = ("en-us", "en-gb", "en+f3")
TEST_DELETION_VOICES = ("en-us+f4", "en-gb-x-rp", "en-gb-scotland+m3", "en-us-nyc")
SAMPLED_PER_CORPUS = 700
TUNING_ORDINARY = 200
NOISE_FLOOR = 0.002
PAD_SAMPLES = 3200
Clip = tuple[str, str, str]
"""(set, source, text or file) — the key of one clip."""


def padded(pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quiet lead-in/out and a noise floor: synthetic speech has digital silence no mic gives."""
    audio = np.concatenate([np.zeros(PAD_SAMPLES), pcm.astype(np.float64), np.zeros(PAD_SAMPLES)])
    audio += rng.normal(0, NOISE_FLOOR * 32767, audio.size)
    return np.clip(audio, -32768, 32767).astype(np.int16)


def hwu_texts(folder: Path, folds: range) -> list[tuple[str, str]]:
    """(text, intent) of some HWU64 folds."""
    rows = []
    for fold in folds:
        with (folder / f"fold_{fold}.csv").open(newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter=";"):
                rows.append((r["answer_from_anno"].strip(), f"{r['scenario']}_{r['intent']}"))
    return rows


def slurp_texts(path: Path) -> list[tuple[str, str]]:
    """(sentence, intent) of SLURP devel."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["sentence"], r["intent"]) for r in rows]


def with_deletion_verbs_first(rows: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Every text with a deletion verb, then a sample of the rest (unique texts)."""
    texts = sorted({t.lower() for t, _ in rows if t})
    hard = [t for t in texts if DELETION_WORDS.search(t)]
    rest = [t for t in texts if not DELETION_WORDS.search(t)]
    rng.shuffle(rest)
    return hard + rest[: max(SAMPLED_PER_CORPUS - len(hard), 0)]


def deletions(path: Path = EXTERNAL) -> list[tuple[str, str]]:
    """(text, intent) of a shipped deletion wording list."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.strip()]  # type: ignore[misc]


def plan(data: Path) -> Iterator[tuple[Clip, str, str | None]]:
    """(key, voice or 'file', expected command or None) for every clip of every set."""
    rng = random.Random(15)
    speakers = data / "speakers" / "librispeech-test-other"
    for flac in sorted(speakers.glob("*/*.flac")):
        yield ("ordinary", "librispeech", str(flac)), "file", None
    for wav in sorted((data / "asr" / "librivox").glob("*.wav")):
        yield ("ordinary", "librivox", str(wav)), "file", None
    texts = [
        ("seed", r.text)
        for split in ("train", "heldout")
        for r in seed_requests(split)  # type: ignore[arg-type]
        if not r.intent.startswith("delete_")
    ]
    texts += [
        ("hwu64", t)
        for t in with_deletion_verbs_first(hwu_texts(data / "nlu" / "hwu64", range(2, 10)), rng)
    ]
    texts += [
        ("slurp", t)
        for t in with_deletion_verbs_first(slurp_texts(data / "nlu" / "slurp" / "devel.jsonl"), rng)
    ]
    for i, (source, text) in enumerate(texts):
        yield ("ordinary", source, text), ORDINARY_VOICES[i % len(ORDINARY_VOICES)], None
    for voice in (*TEST_DELETION_VOICES, *TUNING_VOICES, *ORDINARY_VOICES):
        for text in YES:
            yield ("yes", voice, text), voice, None
    for text, intent in deletions(NEW_HELDOUT):
        for voice in TEST_DELETION_VOICES:
            yield ("deletion-new", voice, text), voice, intent
    for text, intent in deletions(EXTERNAL):
        for voice in TEST_DELETION_VOICES:
            yield ("deletion", voice, text), voice, intent
    for text, intent in deletions(NEW_TUNING):
        for voice in TUNING_VOICES:
            yield ("tuning-deletion", voice, text), voice, intent
    for split in ("train", "heldout"):
        for r in seed_requests(split):  # type: ignore[arg-type]
            if r.intent.startswith("delete_"):
                for voice in TUNING_VOICES:
                    yield ("tuning-deletion", voice, r.text), voice, r.intent
    fold1 = [t.lower() for t, _ in hwu_texts(data / "nlu" / "hwu64", range(1, 2))]
    hard = [t for t in fold1 if DELETION_WORDS.search(t)]
    rest = [t for t in fold1 if not DELETION_WORDS.search(t)]
    rng.shuffle(rest)
    for i, text in enumerate(hard + rest[: TUNING_ORDINARY - len(hard)]):
        yield ("tuning-ordinary", "hwu64-fold1", text), TUNING_VOICES[i % 3], None


def audio(key: Clip, voice: str, rng: np.random.Generator) -> np.ndarray:
    """The clip's samples: a corpus file, or the text spoken by espeak-ng."""
    if voice == "file":
        pcm, rate = sf.read(key[2], dtype="int16")
        if rate != SAMPLE_RATE_HZ:
            pcm = resample_poly(pcm.astype(np.float64), SAMPLE_RATE_HZ, rate).astype(np.int16)
        return pcm
    return padded(synthesise(key[2], voice), rng)


def observe(stack: SpeechStack, pcm: np.ndarray) -> dict[str, object] | None:
    """What the pipeline made of one request (None: no speech found)."""
    outcome = understand(stack, pcm)
    if outcome.transcript is None or outcome.interpretation is None:
        return None
    return {
        "transcript": asdict(outcome.transcript),
        "interpretation": asdict(outcome.interpretation),
        "speech_s": outcome.speech_s,
    }


def as_if_heard(stack: SpeechStack, text: str) -> dict[str, object]:
    """A perfect recogniser: the reference text, every word at confidence 1, 0.4 s per word."""
    words = [Word(w, i * 0.4, (i + 1) * 0.4, 1.0) for i, w in enumerate(text.split())]
    transcript = Transcript(text, tuple(words), 1.0, "whisper:reference")
    return {
        "transcript": asdict(transcript),
        "interpretation": asdict(stack.nlu.predict(text)),
        "speech_s": 0.4 * len(words),
    }


def rebuild(seen: dict) -> tuple[Transcript, Interpretation, float]:  # type: ignore[type-arg]
    """The objects back from a cached observation."""
    t = seen["transcript"]
    words = tuple(Word(**w) for w in t["words"])
    transcript = Transcript(t["text"], words, t["confidence"], t["model"])
    return transcript, Interpretation(**seen["interpretation"]), seen["speech_s"]


def observations(args: argparse.Namespace) -> list[tuple[Clip, str | None, dict | None]]:  # type: ignore[type-arg]
    """Every clip's observation, from the cache when it is there."""
    cache: dict[str, dict | None] = {}  # type: ignore[type-arg]
    for path in [args.cache, *args.more_cache]:
        if path and path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                cache[row["key"]] = row["seen"]
    stack = SpeechStack("openwakeword", "", 0.5, ("alexa",), args.asr)
    rng = np.random.default_rng(0)
    out, started, decoded = [], time.perf_counter(), 0
    sink = args.cache.open("a") if args.cache else None
    clips = list(plan(args.data))
    for key, voice, expected in reversed(clips) if args.reverse else clips:
        if args.sets and key[0] not in args.sets:
            continue
        name = json.dumps(key)
        if args.text:
            if voice != "file":
                out.append((key, expected, as_if_heard(stack, key[2])))
            continue
        if name not in cache and args.cached_only:
            continue
        if name not in cache:
            cache[name] = observe(stack, audio(key, voice, rng))
            decoded += 1
            if sink:
                sink.write(json.dumps({"key": name, "seen": cache[name]}) + "\n")
                sink.flush()
        out.append((key, expected, cache[name]))
    if decoded:
        print(f"decoded {decoded} clips in {time.perf_counter() - started:.0f} s")
    return out


SETS = ("ordinary", "deletion-new", "deletion", "tuning-ordinary", "tuning-deletion")


def report(rows: list, label: str, rule) -> None:  # type: ignore[no-untyped-def, type-arg]
    """False deletions per ordinary set and obeyed share of deletions under one rule.

    ``rule(index)`` -> the command carried out for row ``index`` (None: nothing deleted).
    """
    print(f"\n{label}")
    print("| set | clips | deleted (false) | obeyed (right command) |\n| --- | --- | --- | --- |")
    for name in SETS:
        subset = [i for i, r in enumerate(rows) if r[0][0] == name]
        if not subset:
            continue
        decided = [(rows[i][1], rule(i)) for i in subset]
        if name.endswith("ordinary"):
            fired = sum(c is not None for _, c in decided)
            print(f"| {name} | {len(subset)} | {fired} | |")
        else:
            right = sum(c == e for e, c in decided)
            print(f"| {name} | {len(subset)} | | {right} ({right / len(subset):.1%}) |")
    for i, (key, _, seen) in enumerate(rows):
        if key[0].endswith("ordinary") and seen and rule(i):
            print(f"  false deletion ({key[1]}): {seen['transcript']['text']!r}")


def interpreter(kind: str):  # type: ignore[no-untyped-def]
    """The intent model to judge with, fitted on the seed requests: n-grams, or with embeddings."""
    from overheard.speech.nlu import train_intent_model

    seed = [(r.text, r.intent) for r in seed_requests("train")]
    return train_intent_model(seed, embeddings=kind == "embeddings")


class Judge:
    """The guard's verdicts on cached observations, with a chosen intent model."""

    def __init__(self, rows: list, nlu_kind: str) -> None:  # type: ignore[type-arg]
        self.rows = rows
        self.model = interpreter(nlu_kind)
        self.yes = {(key[1], key[2]): seen for key, _, seen in rows if key[0] == "yes"}
        ordinary = [i for i, r in enumerate(rows) if r[0][0].endswith("ordinary")]
        self.next_ordinary = dict(itertools.pairwise(ordinary))
        self._seen: dict[int, tuple] = {}  # type: ignore[type-arg]

    def observed(self, i: int) -> tuple[Transcript, Interpretation, float, str] | None:
        """Transcript, re-predicted intent, speech seconds and request text of row ``i``."""
        if i not in self._seen:
            seen = self.rows[i][2]
            if not seen:
                return None
            transcript, _, speech_s = rebuild(seen)
            text = without_keywords(transcript.text, ("alexa",))
            self._seen[i] = (transcript, self.model.predict(text), speech_s, text)
        return self._seen[i]

    def verdict(self, guard: DeletionGuard, i: int) -> Verdict | None:
        got = self.observed(i)
        return None if got is None else judge(guard, got[1], got[0], got[2], got[3])

    def answered_yes(self, guard: DeletionGuard, i: int) -> bool:
        """Whether what follows row ``i`` is heard as a yes: its voice's yes for a deletion, the
        next ordinary clip for ordinary speech."""
        key = self.rows[i][0]
        if key[0].endswith("ordinary"):
            after = self.next_ordinary.get(i)
            got = None if after is None else self.observed(after)
        else:
            seen = self.yes.get((key[1], YES[i % len(YES)]))
            got = None if not seen else (rebuild(seen)[0], None, 0.0, rebuild(seen)[0].text)
        return got is not None and is_confirmation(guard, got[0], got[3])

    def rule(self, guard: DeletionGuard):  # type: ignore[no-untyped-def]
        def decide(i: int) -> str | None:
            verdict = self.verdict(guard, i)
            if verdict is None or verdict.command is None:
                return None
            if verdict.confirm and not self.answered_yes(guard, i):
                return None
            return verdict.command

        return decide

    def asked(self, guard: DeletionGuard, name: str) -> int:
        """How many clips of set ``name`` made the device ask for a yes."""
        count = 0
        for i, r in enumerate(self.rows):
            if r[0][0] == name and (v := self.verdict(guard, i)) and v.command and v.confirm:
                count += 1
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--asr", default=Settings().asr, help="recogniser spec (default: settings)")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--more-cache", type=Path, nargs="*", default=[], help="read-only caches")
    parser.add_argument("--sets", nargs="*", help="only these sets (e.g. tuning-deletion)")
    parser.add_argument(
        "--text", action="store_true", help="no audio: the reference texts as a perfect recogniser"
    )
    parser.add_argument(
        "--cached-only", action="store_true", help="judge only the clips already in --cache"
    )
    parser.add_argument(
        "--reverse", action="store_true", help="decode the plan backwards (a second process)"
    )
    parser.add_argument("--nlu", choices=("ngrams", "embeddings"), default="embeddings")
    parser.add_argument(
        "--show-missed",
        nargs="*",
        default=["deletion-new", "deletion"],
        help="sets to list misses of",
    )
    args = parser.parse_args()
    rows = observations(args)
    if args.reverse:
        return
    print(f"recogniser: {'reference texts (perfect recogniser)' if args.text else args.asr}")
    print(f"intent model: {args.nlu}")
    judged = Judge(rows, args.nlu)

    def before(i: int) -> str | None:
        got = judged.observed(i)
        return None if got is None else is_privacy_command(got[1])

    report(rows, "before the guard (baseline: intent probability >= 0.8)", before)
    for policy in ("never", "unnamed", "always"):
        guard = DeletionGuard(confirm=policy)  # type: ignore[arg-type]
        report(rows, f"guard, spoken yes: {policy}", judged.rule(guard))
        print(
            f"  asked for a yes: ordinary {judged.asked(guard, 'ordinary')}, "
            f"tuning-ordinary {judged.asked(guard, 'tuning-ordinary')}"
        )
    guard = DeletionGuard()
    refusals: dict[str, int] = {}
    for i, (key, expected, _) in enumerate(rows):
        if key[0] in args.show_missed and (got := judged.observed(i)):
            verdict = judge(guard, got[1], got[0], got[2], got[3])
            if verdict.command != expected:
                refusals[verdict.reason] = refusals.get(verdict.reason, 0) + 1
                print(
                    f"  missed ({key[0]}, {key[1]}): {key[2]!r} heard {got[3]!r} -> {verdict.reason}"
                )
    print(f"missed deletions by reason (default guard): {refusals}")


if __name__ == "__main__":
    main()
