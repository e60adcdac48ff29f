"""Decoding options of the default recogniser on spoken requests: beam, patience, an initial prompt,
hotwords, and how the n-best list is chosen from (the seed-request rescoring's weight, a length
normalisation, the intent model's confidence, fewer hypotheses).

Run: PYTHONPATH=src:benchmarks nice -n 5 .venv/bin/python benchmarks/asr_decoding.py
     --phase tune|final|speed [--data ../shared/data] [--cache /tmp/overheard-asr-cache]
     [--method beam10|new]

Each clip is decoded once per *decode* (an n-best decode as the default recogniser makes it,
``overheard.speech._rescore.nbest``, with the decode's options) and the n-best list is kept on
disk; every *method* then chooses from the same lists, so methods of one decode differ only by how
they choose. For a hypothesis ``h`` of ``T`` tokens and ``N`` words:

    score = log P_whisper(h) / T ** alpha
            + weight * sum log((mix P_seed + (1 - mix) P_gen) / P_gen)      (the default's evidence)
            + intent * ln max_i P(intent_i | h)                             (the seed intent model)

``alpha`` = 0, ``weight`` = 0.2, ``mix`` = 0.8, ``intent`` = 0 over the 5 best of a beam of 5 is the
default recogniser.

Phases (split by sentence and voice before anything was tuned):

- ``tune``: every decode and method on the tuning set only (the 24 phrasings of
  benchmarks/asr_wer.py × espeak-ng en-us, en-gb, en+f3; plus piper when installed); no held-out
  clip is decoded. Prints WER, errors, the n-best oracle and seconds per clip per decode.
- ``final``: the methods frozen on the tuning set (``BEAM10`` first, then ``FROZEN``) beside the
  default in the same run, on librivox, cards, the tuning set, the external held-out set (every
  2nd clip, as docs/models/asr.md measured it) and the fresh held-out set of
  benchmarks/asr_lm.py, with the decode seconds per clip of each (cached: from the run that
  decoded, so not comparable between decodes).
- ``speed``: seconds per clip of the pipeline and of two bare decodes with the same settings, for
  the default's decode and ``--method``'s, clip by clip in turn (every 4th tuning clip).

WER is benchmarks/asr_wer.py's (lowercase words, punctuation dropped, titles folded), the same for
every row; ``--phase tune`` also prints the tuning WER under a fuller normaliser (contractions,
"okay", British spellings) to check the scoring is not what holds the figure up.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from asr_choice import kept, spoken
from asr_lm import FRESH_REQUESTS, FRESH_VOICES, fresh_set, lm_scores, reported_sets
from asr_wer import ESPEAK_VOICES, NEW_REQUESTS, Clip, normalise

from overheard.learn.heldout import HELDOUT_VOICES, external_requests
from overheard.speech import _rescore as rs
from overheard.speech import _whisper as wh
from overheard.speech.asr import RESCORE_MIX, RESCORE_WEIGHT
from overheard.speech.nlu import default_intent_model
from overheard.speech.seed import seed_requests

PROMPT = "A short spoken request to a voice assistant at home."
"""A generic description of what the clips hold; none of the test wording (``main`` checks that no
tuning or held-out phrasing shares three words in a row with it)."""


@dataclass(frozen=True)
class Decode:
    """One n-best decode of a clip."""

    beam: int = wh.BEAM_SIZE
    n: int = rs.NBEST
    patience: float = 1.0
    prompt: str | None = None
    hotwords: str | None = None

    def label(self) -> str:
        parts = [f"beam {self.beam}, n {self.n}"]
        if self.patience != 1.0:
            parts.append(f"patience {self.patience}")
        if self.prompt:
            parts.append("prompt")
        if self.hotwords:
            parts.append("hotwords")
        return ", ".join(parts)


DEFAULT_DECODE = Decode()


@dataclass(frozen=True)
class Method:
    """How a hypothesis is chosen from a decode's n-best list."""

    decode: Decode = DEFAULT_DECODE
    weight: float = RESCORE_WEIGHT
    mix: float = RESCORE_MIX
    alpha: float = 0.0
    """Length normalisation of whisper's log probability (0: the sum, as the default)."""
    intent: float = 0.0
    top: int = 0
    """Only the ``top`` best hypotheses by whisper's score (0: all)."""

    def label(self) -> str:
        out = f"{self.decode.label()}; weight {self.weight}, mix {self.mix}"
        out += f", alpha {self.alpha}" if self.alpha else ""
        out += f", intent {self.intent}" if self.intent else ""
        return out + (f", top {self.top}" if self.top else "")


DEFAULT = Method()
BEAM10 = Method(Decode(beam=10, n=10))
"""Frozen first on the tuning set (82 → 77 errors) and scored once on the held-out sets: external
0.206 → 0.180, fresh 0.166 → 0.157 (docs/models/asr.md)."""
FROZEN = Method(Decode(beam=10, n=10, prompt=PROMPT))
"""Chosen on the tuning set before any held-out clip was scored with it: the 10 best of a beam of 10
decoded after the generic prompt, with the default's rescoring (82 → 72 errors of 450 words; 72 at
seed weights 0.2 and 0.35, so the default's 0.2 was kept). Each alone: beam 10 77, the prompt 78
(beam 10 alone was frozen first and scored on the held-out sets, ``BEAM10``); patience 2 79;
hotwords 96; the intent model's confidence moved the best rows by 0-2 errors (not taken)
(docs/models/asr.md)."""


@dataclass(frozen=True)
class Scored:
    """One hypothesis: whisper's summed log probability and token count, each word's (and
    ``</s>``'s) log probability under the seed and the general model, the intent model's ln max."""

    text: str
    logprob: float
    tokens: int
    seed: tuple[float | None, ...]
    general: tuple[float | None, ...]
    intent_ln: float

    def score(self, m: Method) -> float:
        total = self.logprob / max(1, self.tokens) ** m.alpha
        mixed = 0.0
        for s, g in zip(self.seed, self.general, strict=True):
            g = rs.GENERAL_FLOOR_LN if g is None else g
            ratio = 0.0 if s is None else math.exp(s - g)
            mixed += math.log(m.mix * ratio + (1.0 - m.mix))
        return total + m.weight * mixed + m.intent * self.intent_ln


class Decoder:
    """n-best lists of one decode, kept on disk (keyed by model, decode and audio)."""

    def __init__(self, cache: Path, decode: Decode) -> None:
        self.cache, self.decode = cache, decode
        self.model_dir = wh.package_model_dir(wh.DEFAULT_PACKAGE)
        self._loaded: wh.LoadedModel | None = None
        keyed = json.dumps([str(self.model_dir.resolve()), asdict(decode)], sort_keys=True)
        self._key = hashlib.sha256(keyed.encode()).hexdigest()[:16]

    def nbest(self, pcm: np.ndarray) -> tuple[list[tuple[str, float, int]], float]:
        """([(text, whisper log probability, tokens)], decode seconds)."""
        path = (
            self.cache
            / "decodes"
            / self._key
            / f"{hashlib.sha256(pcm.tobytes()).hexdigest()[:24]}.json"
        )
        if path.is_file():
            found = json.loads(path.read_text())
            return [tuple(h) for h in found["hyps"]], found["s"]  # type: ignore[misc]
        if self._loaded is None:
            self._loaded = wh.load_model(self.model_dir)
        d = self.decode
        started = time.perf_counter()
        hyps = nbest(self._loaded, pcm.astype(np.float32) / wh.PCM_SCALE, d)
        took = time.perf_counter() - started
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"hyps": hyps, "s": took}))
        return hyps, took


def nbest(loaded: wh.LoadedModel, audio: np.ndarray, d: Decode) -> list[tuple[str, float, int]]:
    """``_rescore.nbest`` with a patience (the default's n-best decode when it is 1)."""
    if d.patience == 1.0:
        hyps, *_ = rs.nbest(
            loaded.model,
            audio,
            beam_size=d.beam,
            n=d.n,
            suppress_tokens=loaded.suppress_tokens,
            language=wh.LANGUAGE,
            hotwords=d.hotwords,
            initial_prompt=d.prompt,
        )
        return [(h.text, h.logprob, len(h.tokens)) for h in hyps]
    model = loaded.model
    tokenizer, encoded, _ = wh._encoded(model, audio)
    previous = tokenizer.encode(" " + d.prompt.strip()) if d.prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=d.hotwords)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=max(d.beam, d.n),
        num_hypotheses=d.n,
        patience=d.patience,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=loaded.suppress_tokens,
        max_length=model.max_length,
    )[0]
    if result.no_speech_prob > rs.NO_SPEECH_PROB and result.scores[0] <= rs.SILENT_LOGPROB:
        return []
    return [
        (tokenizer.decode(t).strip(), float(s) * max(1, len(t)), len(t))
        for t, s in zip(result.sequences_ids, result.scores, strict=True)
    ]


class Lists:
    """The scored n-best lists of a set of clips, per decode."""

    def __init__(self, cache: Path, clips: Sequence[Clip], decodes: Sequence[Decode]) -> None:
        seed, general = wh.seed_model(), rs.general_model()
        intents = default_intent_model()
        self.refs = [normalise(r) for r, _ in clips]
        self.words = sum(len(r.split()) for r in self.refs)
        self.lists: dict[Decode, list[list[Scored]]] = {}
        self.seconds: dict[Decode, float] = {}
        for decode in decodes:
            decoder = Decoder(cache, decode)
            lists, seconds = [], 0.0
            for _, pcm in clips:
                hyps, took = decoder.nbest(pcm)
                seconds += took
                texts = [" ".join(wh.SPOKEN.findall(t.lower())) for t, _, _ in hyps]
                probs = intents.probabilities(texts) if texts else np.zeros((0, 1))
                lists.append(
                    [
                        Scored(
                            text,
                            logprob,
                            tokens,
                            lm_scores(seed, words.split()),
                            lm_scores(general, words.split()),
                            float(np.log(max(float(p.max()), 1e-9))),
                        )
                        for (text, logprob, tokens), words, p in zip(
                            hyps, texts, probs, strict=True
                        )
                    ]
                )
            self.lists[decode], self.seconds[decode] = lists, seconds / max(1, len(clips))

    def chosen(self, m: Method) -> list[str]:
        out = []
        for hyps in self.lists[m.decode]:
            if m.top:
                hyps = sorted(hyps, key=lambda h: -h.logprob)[: m.top]
            out.append(normalise(max(hyps, key=lambda h: h.score(m)).text) if hyps else "<empty>")
        return out

    def errors(self, m: Method) -> int:
        out = jiwer.process_words(self.refs, self.chosen(m))
        return int(out.substitutions + out.deletions + out.insertions)

    def oracle(self, decode: Decode) -> int:
        """Errors when each clip gets the best hypothesis of its list."""
        total = 0
        for ref, hyps in zip(self.refs, self.lists[decode], strict=True):
            options = [normalise(h.text) for h in hyps] or ["<empty>"]
            total += min(_errors(ref, h) for h in options)
        return total


def _errors(ref: str, hyp: str) -> int:
    out = jiwer.process_words([ref], [hyp])
    return int(out.substitutions + out.deletions + out.insertions)


CONTRACTIONS = {
    "what's": "what is", "it's": "it is", "i'll": "i will", "i'm": "i am", "don't": "do not",
    "can't": "can not", "won't": "will not", "isn't": "is not", "that's": "that is",
    "there's": "there is", "let's": "let us", "you're": "you are", "i've": "i have",
    "okay": "ok", "colour": "color", "favourite": "favorite", "centre": "center",
    "litres": "liters", "litre": "liter", "metres": "meters", "grey": "gray",
}  # fmt: skip


def fuller(text: str) -> str:
    """A fuller normalisation: contractions expanded, "okay", a few British spellings."""
    words = normalise(text).split()
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def seed_hotwords(k: int = 10) -> list[str]:
    """The seed training requests' most frequent words that are not function words."""
    stop = set(
        "a an the to in on of for and my me is it what i set please you at can how turn up down"
        " off play add from this that be with do".split()
    )
    counts: dict[str, int] = {}
    for r in seed_requests("train"):
        for w in re.findall(r"[a-z']+", r.text.lower()):
            if w not in stop:
                counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda x: -x[1])[:k]]


HOTWORDS = " ".join(seed_hotwords(10))
"""The seed requests' ten most frequent content words, not the test wording."""
DECODES = (
    DEFAULT_DECODE,
    Decode(beam=10, n=10),
    Decode(patience=2.0),
    Decode(prompt=PROMPT),
    Decode(hotwords=HOTWORDS),
    Decode(beam=10, n=10, prompt=PROMPT),
)
METHOD_GRID = dict(
    weight=(0.0, 0.2, 0.35, 0.5),
    alpha=(0.0, 0.5, 1.0),
    intent=(0.0, 0.5, 1.0, 2.0),
    top=(0, 3),
)


def tune(cache: Path, clips: list[Clip]) -> None:
    lists = Lists(cache, clips, DECODES)
    words = lists.words
    print(f"tuning set: {len(clips)} clips, {words} words; load {os.getloadavg()[0]:.1f}\n")
    print("| decode | s per clip | n-best oracle errors | default choice | top of list |")
    print("| --- | --- | --- | --- | --- |")
    for d in DECODES:
        default = lists.errors(Method(decode=d))
        plain = lists.errors(Method(decode=d, weight=0.0))
        print(
            f"| {d.label()} | {lists.seconds[d]:.2f} | {lists.oracle(d)} | "
            f"{default / words:.3f} ({default}) | {plain / words:.3f} ({plain}) |",
            flush=True,
        )
    rows = []
    for d in DECODES:
        for weight, alpha, intent, top in itertools.product(*METHOD_GRID.values()):
            m = Method(d, weight, RESCORE_MIX, alpha, intent, top)
            rows.append((lists.errors(m), m))
    rows.sort(key=lambda r: r[0])
    print(f"\n| method (mix {RESCORE_MIX}) | tuning errors of {words} words |\n| --- | --- |")
    for e, m in rows[:25]:
        print(f"| {m.label()} | {e} ({e / words:.3f}) |")
    print("\nerrors by seed weight (rows) x intent weight (columns), alpha 0, all hypotheses:")
    for d in DECODES:
        print(f"  {d.label()}")
        for weight in METHOD_GRID["weight"]:
            found = [lists.errors(Method(d, weight, intent=i)) for i in METHOD_GRID["intent"]]
            print(f"    weight {weight}: {found}")
    chosen = lists.chosen(DEFAULT)
    print(
        f"\nscoring check, default: WER {jiwer.wer(lists.refs, chosen):.3f} as scored, "
        f"{jiwer.wer([fuller(r) for r in lists.refs], [fuller(h) for h in chosen]):.3f} with "
        "contractions expanded and spellings folded"
    )
    print("\ndefault's errors (reference -> hypothesis):")
    for ref, hyp in zip(lists.refs, chosen, strict=True):
        if ref != hyp:
            print(f"  {ref} -> {hyp}")


def final(cache: Path, sets: dict[str, list[Clip]]) -> None:
    methods = {"default": DEFAULT, "beam 10": BEAM10, "**new**": FROZEN}
    decodes = list(dict.fromkeys(m.decode for m in methods.values()))
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(
        "\n| set | clips | words | "
        + " | ".join(f"{k} ({m.label()})" for k, m in methods.items())
        + " |\n|"
        + " --- |" * (3 + len(methods))
    )
    seconds = dict.fromkeys(decodes, 0.0)
    n = 0
    for name, clips in sets.items():
        if not clips:
            continue
        lists = Lists(cache, clips, decodes)
        for d in decodes:
            seconds[d] += lists.seconds[d] * len(clips)
        n += len(clips)
        cells = [lists.errors(m) for m in methods.values()]
        print(
            f"| {name} | {len(clips)} | {lists.words} | "
            + " | ".join(f"{e / lists.words:.3f} ({e})" for e in cells)
            + " |",
            flush=True,
        )
    for d in decodes:
        print(f"decode {d.label()}: {seconds[d] / n:.2f} s per clip over {n} clips")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def speed(clips: Sequence[Clip], other: Method) -> None:
    """Seconds per clip of the pipeline (VAD + whisper with the rescored n-best + intent) with the
    default's decode and ``other``'s, each beside two bare decodes with the same beam (the n-best
    generate alone, and faster-whisper's ``transcribe``); clip by clip, the six in turn."""
    from overheard.config import Settings
    from overheard.speech.pipeline import analyse, stack_from_settings

    model_dir = wh.package_model_dir(wh.DEFAULT_PACKAGE)
    loaded = wh.load_model(model_dir)
    runs = {}
    for name, d in (("default", DEFAULT.decode), ("new", other.decode)):
        stack = stack_from_settings(Settings(asr="whisper"))
        backend = wh.WhisperBackend(
            model_dir,
            name="whisper",
            biasing=replace(wh.DEFAULT_BIASING, initial_prompt=d.prompt, hotwords=d.hotwords),
            decoding=wh.Decoding(beam_size=d.beam, nbest=d.n),
        )
        stack = copy.copy(stack)
        stack.__dict__["asr"] = backend
        analyse(stack, clips[0][1], wake_gate=False)  # every model loaded before timing
        runs[f"{name}: bare n-best decode"] = functools.partial(_bare_nbest, loaded, d)
        runs[f"{name}: bare transcribe"] = functools.partial(_bare_transcribe, loaded, d)
        runs[f"{name}: pipeline"] = functools.partial(_pipeline, analyse, stack)
    took = dict.fromkeys(runs, 0.0)
    print(f"speed: {len(clips)} clips; load {os.getloadavg()[0]:.1f}")
    for i, (_, pcm) in enumerate(clips):
        names = list(runs)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            loaded.forget_encoding()  # no run inherits another's encoder output of this clip
            started = time.perf_counter()
            runs[name](pcm)
            took[name] += time.perf_counter() - started
    audio_s = sum(len(p) for _, p in clips) / 16000
    print("| path | s per clip | real-time factor |\n| --- | --- | --- |")
    for name, total in took.items():
        print(f"| {name} | {total / len(clips):.2f} | {total / audio_s:.2f} |")
    for name in ("default", "new"):
        pipe = took[f"{name}: pipeline"]
        print(
            f"{name}: pipeline / bare n-best decode {pipe / took[f'{name}: bare n-best decode']:.2f}x,"
            f" / bare transcribe {pipe / took[f'{name}: bare transcribe']:.2f}x"
        )
    print(
        f"new pipeline / default pipeline: {took['new: pipeline'] / took['default: pipeline']:.2f}x"
    )
    print(f"load at end {os.getloadavg()[0]:.1f}")


def _bare_nbest(loaded: wh.LoadedModel, d: Decode, pcm: np.ndarray) -> object:
    return nbest(loaded, pcm.astype(np.float32) / wh.PCM_SCALE, d)


def _bare_transcribe(loaded: wh.LoadedModel, d: Decode, pcm: np.ndarray) -> object:
    segments, _ = loaded.model.transcribe(
        pcm.astype(np.float32) / wh.PCM_SCALE,
        language=wh.LANGUAGE,
        beam_size=d.beam,
        word_timestamps=True,
        condition_on_previous_text=False,
        suppress_tokens=loaded.suppress_tokens,
        initial_prompt=d.prompt,
        hotwords=d.hotwords,
    )
    return list(segments)


def _pipeline(analyse: Any, stack: Any, pcm: np.ndarray) -> object:
    return analyse(stack, pcm, wake_gate=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase", choices=("tune", "final", "speed"), required=True)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/overheard-asr-cache"))
    parser.add_argument(
        "--method",
        choices=("beam10", "new"),
        default="beam10",
        help="--phase speed: the decode timed beside the default's (BEAM10 or FROZEN)",
    )
    args = parser.parse_args()
    tested = [*NEW_REQUESTS, *external_requests(), *FRESH_REQUESTS]
    for text in tested:
        words = text.split()
        for i in range(len(words) - 2):
            tri = " ".join(words[i : i + 3])
            assert tri not in PROMPT.lower() and tri not in HOTWORDS, tri
    assert not set(ESPEAK_VOICES) & (set(FRESH_VOICES) | set(HELDOUT_VOICES))
    tuning = kept(args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
    if args.phase == "tune":
        tune(args.cache, tuning)
        return
    if args.phase == "speed":
        speed(tuning[::4], FROZEN if args.method == "new" else BEAM10)
        return
    sets = reported_sets(args.data, args.cache, tuning)
    fresh = fresh_set(args.cache)
    sets[f"fresh held-out ({', '.join(FRESH_VOICES)}; + piper when installed)"] = fresh
    final(args.cache, sets)


if __name__ == "__main__":
    main()
