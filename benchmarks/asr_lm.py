"""Re-ranking the default recogniser's n-best list with general English: the seed-request evidence
alone (the default) vs the same plus pocketsphinx's generic en-us trigram model as a language model
in its own right; also the n-best decode without punctuation, merged spellings and a score margin.

Run: .venv/bin/python benchmarks/asr_lm.py --phase tune|final [--data ../shared/data]
     [--cache /tmp/overheard-asr-cache]

Each clip is decoded once per decode (beam 5, n = 5, as the default recogniser decodes it:
``overheard.speech._rescore.nbest``; optionally with every punctuation-only token suppressed, so
the five slots hold readings rather than "tower?" / "tower." / "tower!"), and the hypotheses are
kept on disk; every row then re-ranks the same lists, so rows differ only by how they choose. For a
hypothesis ``h`` of ``N`` words:

    score = log P_whisper(h) + weight * sum log((mix P_seed + (1 - mix) P_gen) / P_gen)   (default)
            + general * (sum log P_gen + bonus * (N + 1))                               (new terms)

``general`` = 0 is the default's rescoring. ``bonus`` (nats per word, with ``</s>``) offsets the
language model's cost of every word, so that the term prefers likelier words rather than fewer.
``merged``: hypotheses with the same words count once, their probabilities summed; ``margin``: only
hypotheses at most that many nats below whisper's best are re-ranked.

Phases (the held-out sets are split by sentence and voice from the tuning set):

- ``tune``: the grid on the tuning set only (the 24 phrasings of benchmarks/asr_wer.py × espeak-ng
  en-us, en-gb, en+f3, + piper en_US-joe-medium when installed); no held-out clip is decoded.
- ``tiny-tune`` / ``tiny-final``: a second acoustic opinion instead, each hypothesis of the
  default's list also scored by the packaged tiny.en (teacher-forced), added at a weight chosen on
  the tuning set (``TINY_FROZEN``), then the same held-out sets.
- ``final``: the frozen method (``FROZEN``) beside the default, on librivox, cards, the tuning set,
  the external held-out set (every 2nd clip, as docs/models/asr.md measured it) and a fresh
  held-out set (``FRESH_REQUESTS``, written before any tuning, × ``FRESH_VOICES``, espeak-ng voices
  no other set uses, + piper when installed), plus the n-best decode's seconds per clip.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from asr_choice import external, kept, spoken
from asr_wer import ESPEAK_VOICES, NEW_REQUESTS, Clip, normalise, read_set

from overheard.learn.heldout import HELDOUT_VOICES, external_requests
from overheard.speech import _rescore as rs
from overheard.speech import _whisper as wh
from overheard.speech.asr import RESCORE_MIX, RESCORE_WEIGHT
from overheard.speech.seed import seed_requests

FRESH_REQUESTS = (
    "switch on the bedroom fan",
    "dim the lights in the dining room",
    "is it raining in bristol",
    "what will the weather be like on sunday morning",
    "set a timer for twenty five minutes",
    "cancel the pasta timer",
    "play the latest episode of my podcast",
    "turn the volume down to five",
    "play some classical piano music",
    "add washing up liquid to the shopping list",
    "remove eggs from my list",
    "remind me to take the bins out on tuesday",
    "what's my first meeting today",
    "set an alarm for half past six",
    "turn off all the alarms",
    "who composed the moonlight sonata",
    "how many grams are in an ounce",
    "what is the square root of eighty one",
    "close the living room curtains",
    "is the kitchen window open",
    "unlock the side door",
    "turn the heating down two degrees",
    "call my brother on his mobile",
    "text mum that i'll be home soon",
    "how long will it take to drive to the airport",
    "what time does the pharmacy close",
    "tell me the football results",
    "read me a bedtime story",
    "what's the weather like in paris this weekend",
    "start the dishwasher",
    "how do i make scrambled eggs",
    "what's the population of canada",
)
"""Written for this benchmark before anything was tuned; ``main`` checks none is a seed request, a
tuning phrasing or an external held-out request."""
FRESH_VOICES = ("en-gb-x-rp", "en-gb-x-gbcwmd", "en-us+f4")
"""espeak-ng voices no other set uses."""
DECODES = ((5, False), (5, True))
"""(beam = n-best size, punctuation suppressed): the default's, and the same without punctuation."""
GENERALS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
BONUSES = (0.0, 2.0, 4.0, 6.0, 8.0)
WEIGHTS = (0.0, 0.2, 0.5)
MIXES = (0.5, 0.8)
MARGINS = (2.0, math.inf)


@dataclass(frozen=True)
class Method:
    """How a hypothesis is chosen from the n-best list of a beam."""

    beam: int = wh.BEAM_SIZE
    weight: float = RESCORE_WEIGHT
    mix: float = RESCORE_MIX
    general: float = 0.0
    bonus: float = 0.0
    unpunctuated: bool = False
    """Punctuation tokens suppressed in the n-best decode (the beam keeps readings, not commas)."""
    merged: bool = False
    """Hypotheses with the same words count as one, their probabilities summed."""
    margin: float = math.inf
    """Only hypotheses at most this many nats below whisper's best are re-ranked."""

    @property
    def decode(self) -> tuple[int, bool]:
        return self.beam, self.unpunctuated

    def label(self) -> str:
        return (
            f"beam {self.beam}{', unpunctuated' if self.unpunctuated else ''}"
            f"{', merged' if self.merged else ''}, weight {self.weight}, mix {self.mix}, "
            f"general {self.general}, bonus {self.bonus}"
            + (f", margin {self.margin}" if self.margin < math.inf else "")
        )


DEFAULT = Method()
FROZEN = Method(general=0.05, bonus=4.0)
"""The method frozen on the tuning set before any held-out clip was scored: the default's decode,
weight and mix, plus general English at weight 0.05 with 4 nats per word (the middle of the flat
stretch, bonus 4 to 8, of the one general weight that helped at the default's weight and mix). Not
adopted: tuning 81 → 79 errors, external held-out 78 → 81, fresh held-out 98 → 99
(docs/models/asr.md)."""


@dataclass(frozen=True)
class Scored:
    """One hypothesis with what the rows need: whisper's log probability and each word's (and
    ``</s>``'s) log probability under the seed and the general model (None: unknown)."""

    text: str
    logprob: float
    seed: tuple[float | None, ...]
    general: tuple[float | None, ...]

    def score(self, m: Method) -> float:
        total = self.logprob
        mixed = 0.0
        general_sum = 0.0
        for s, g in zip(self.seed, self.general, strict=True):
            g = rs.GENERAL_FLOOR_LN if g is None else g
            ratio = 0.0 if s is None else float(np.exp(s - g))
            mixed += float(np.log(m.mix * ratio + (1.0 - m.mix)))
            general_sum += g
        total += m.weight * mixed
        return total + m.general * (general_sum + m.bonus * len(self.general))


def lm_scores(model: rs.NgramModel, words: list[str]) -> tuple[float | None, ...]:
    history = ["<s>"]
    out = []
    for word in [*words, "</s>"]:
        out.append(model.logprob(word, history))
        history.append(word)
    return tuple(out)


class Decoder:
    """n-best lists per beam, kept on disk (keyed by model, beam, punctuation and audio)."""

    def __init__(self, cache: Path, unpunctuated: bool = False) -> None:
        self.cache = cache
        self.unpunctuated = unpunctuated
        self.model_dir = wh.package_model_dir(wh.DEFAULT_PACKAGE)
        self._loaded: wh.LoadedModel | None = None

    def nbest(self, pcm: np.ndarray, beam: int) -> tuple[list[tuple[str, float]], float]:
        """([(text, whisper log probability)], decode seconds)."""
        mark = "|unpunctuated" if self.unpunctuated else ""
        key = hashlib.sha256(f"{self.model_dir.resolve()}|{beam}{mark}".encode() + pcm.tobytes())
        path = self.cache / "nbest" / f"{key.hexdigest()[:24]}.json"
        if path.is_file():
            found = json.loads(path.read_text())
            return [tuple(h) for h in found["hyps"]], found["s"]  # type: ignore[misc]
        if self._loaded is None:
            self._loaded = wh.load_model(self.model_dir)
        audio = pcm.astype(np.float32) / wh.PCM_SCALE
        started = time.perf_counter()
        hyps, *_ = rs.nbest(
            self._loaded.model,
            audio,
            beam_size=beam,
            n=beam,
            suppress_tokens=self._loaded.suppress_tokens
            + (punctuation_tokens(self._loaded.model) if self.unpunctuated else []),
            language=wh.LANGUAGE,
        )
        took = time.perf_counter() - started
        out = [(h.text, h.logprob) for h in hyps]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"hyps": out, "s": took}))
        return out, took


PUNCTUATION = re.compile(r"^[\s.,?!;:…\"()\[\]¿¡]+$")


def punctuation_tokens(model: object) -> list[int]:
    tokenizer = model.hf_tokenizer  # type: ignore[attr-defined]
    return [i for i in range(50257) if PUNCTUATION.match(tokenizer.decode([i]) or "x")]


class Lists:
    """The scored n-best lists of a set of clips, per decode (beam, unpunctuated)."""

    def __init__(
        self, cache: Path, clips: Sequence[Clip], decodes: Sequence[tuple[int, bool]]
    ) -> None:
        seed, general = wh.seed_model(), rs.general_model()
        self.refs = [normalise(r) for r, _ in clips]
        self.audio_s = sum(len(p) for _, p in clips) / 16000
        self.lists: dict[tuple[int, bool], list[list[Scored]]] = {}
        self.seconds: dict[tuple[int, bool], float] = {}
        for beam, unpunctuated in decodes:
            decoder = Decoder(cache, unpunctuated)
            lists, seconds = [], 0.0
            for _, pcm in clips:
                hyps, took = decoder.nbest(pcm, beam)
                seconds += took
                scored = []
                for text, logprob in hyps:
                    words = wh.SPOKEN.findall(text.lower())
                    scored.append(
                        Scored(text, logprob, lm_scores(seed, words), lm_scores(general, words))
                    )
                lists.append(scored)
            self.lists[beam, unpunctuated], self.seconds[beam, unpunctuated] = lists, seconds

    def chosen(self, m: Method) -> list[str]:
        out = []
        for hyps in self.lists[m.decode]:
            if m.merged:
                hyps = merged(hyps)
            if hyps and m.margin < math.inf:
                top = max(h.logprob for h in hyps)
                hyps = [h for h in hyps if h.logprob >= top - m.margin]
            out.append(normalise(max(hyps, key=lambda h: h.score(m)).text) if hyps else "<empty>")
        return out

    def wer(self, m: Method) -> float:
        return float(jiwer.wer(self.refs, self.chosen(m)))

    def errors(self, m: Method) -> int:
        out = jiwer.process_words(self.refs, self.chosen(m))
        return int(out.substitutions + out.deletions + out.insertions)


def merged(hyps: list[Scored]) -> list[Scored]:
    """One hypothesis per word sequence, with the summed probability of its spellings."""
    by_words: dict[str, list[Scored]] = {}
    for h in hyps:
        by_words.setdefault(normalise(h.text), []).append(h)
    return [
        replace(same[0], logprob=float(np.logaddexp.reduce([h.logprob for h in same])))
        for same in by_words.values()
    ]


def fresh_set(cache: Path) -> list[Clip]:
    return kept(
        cache,
        "fresh-" + hashlib.sha256("|".join(FRESH_REQUESTS).encode()).hexdigest()[:8],
        lambda: spoken(FRESH_REQUESTS, FRESH_VOICES, seed=7),
    )


def heldout_set(cache: Path) -> tuple[list[Clip], list[Clip]]:
    """The external held-out set's every 2nd clip, espeak and piper parts (as asr_choice.py)."""
    clips = kept(cache, "external", lambda: external(HELDOUT_VOICES))
    n_espeak = len(external_requests()) * len(HELDOUT_VOICES)
    return clips[:n_espeak][::2], clips[n_espeak:][::2]


def tune(cache: Path, tuning: list[Clip]) -> None:
    lists = Lists(cache, tuning, DECODES)
    print(
        f"tuning set: {len(tuning)} clips, {lists.audio_s:.0f} s of audio, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    for decode in DECODES:
        print(f"decode {decode}: {lists.seconds[decode] / len(tuning):.2f} s per clip")
    print(f"\ndefault ({DEFAULT.label()}): WER {lists.wer(DEFAULT):.3f}")
    print(f"plain (top of the default's n-best): WER {lists.wer(Method(weight=0.0)):.3f}\n")
    rows = []
    for (beam, unpunctuated), merge, weight, mix, general, bonus, margin in itertools.product(
        DECODES, (False, True), WEIGHTS, MIXES, GENERALS, BONUSES, MARGINS
    ):
        if general == 0.0 and bonus != 0.0:
            continue
        m = Method(beam, weight, mix, general, bonus, unpunctuated, merge, margin)
        rows.append((lists.errors(m), m))
    rows.sort(key=lambda r: r[0])
    words = sum(len(r.split()) for r in lists.refs)
    print(f"| method | tuning WER (errors of {words} words) |\n| --- | --- |")
    for e, m in rows[:30]:
        print(f"| {m.label()} | {e / words:.3f} ({e}) |")
    print("\nerrors by general weight (rows) and bonus (columns), default weight and mix:")
    for (beam, unpunctuated), merge in itertools.product(DECODES, (False, True)):
        print(f"beam {beam}, unpunctuated {unpunctuated}, merged {merge}; bonus {BONUSES}")
        for general in GENERALS:
            found = [
                lists.errors(
                    Method(beam, RESCORE_WEIGHT, RESCORE_MIX, general, b, unpunctuated, merge)
                )
                for b in BONUSES
            ]
            print(f"  general {general}: {found}")


def final(cache: Path, sets: dict[str, list[Clip]]) -> None:
    decodes = sorted({DEFAULT.decode, FROZEN.decode})
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"\n| set | clips | default ({DEFAULT.label()}) | **new** ({FROZEN.label()}) |")
    print("| --- | --- | --- | --- |")
    seconds = dict.fromkeys(decodes, 0.0)
    n = 0
    for name, clips in sets.items():
        if not clips:
            continue
        lists = Lists(cache, clips, decodes)
        for decode in decodes:
            seconds[decode] += lists.seconds[decode]
        n += len(clips)
        print(
            f"| {name} | {len(clips)} | {lists.wer(DEFAULT):.3f} ({lists.errors(DEFAULT)} errors)"
            f" | {lists.wer(FROZEN):.3f} ({lists.errors(FROZEN)} errors) |",
            flush=True,
        )
    for decode in decodes:
        print(f"decode {decode}: n-best {seconds[decode] / n:.2f} s per clip ({n} clips)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


TINY_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
TINY_FROZEN = 0.5
"""Weight of tiny.en's log probability, chosen on the tuning set (the middle of the flat stretch
0.25-1.0); not adopted (docs/models/asr.md)."""


def tiny_scores(
    cache: Path, clips: Sequence[Clip], lists: Lists
) -> tuple[list[list[float]], float]:
    """tiny.en's teacher-forced log probability of each hypothesis of the default decode (kept on
    disk), and its seconds per clip."""
    model: object | None = None
    out, seconds = [], 0.0
    for (_, pcm), hyps in zip(clips, lists.lists[DEFAULT.decode], strict=True):
        key = hashlib.sha256(b"tiny|" + "|".join(h.text for h in hyps).encode() + pcm.tobytes())
        path = cache / "tiny" / f"{key.hexdigest()[:24]}.json"
        if not path.is_file():
            if model is None:
                model = wh.load_model(wh.package_model_dir(wh.TINY_PACKAGE)).model
            started = time.perf_counter()
            tokenizer, encoded, frames = wh._encoded(model, pcm.astype(np.float32) / wh.PCM_SCALE)
            row = []
            for h in hyps:
                ids = tokenizer.encode(" " + h.text.strip())
                aligned = model.model.align(encoded, tokenizer.sot_sequence, [ids], frames)[0]  # type: ignore[attr-defined]
                row.append(
                    sum(math.log(max(p, wh.MIN_TOKEN_PROB)) for p in aligned.text_token_probs)
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"scores": row, "s": time.perf_counter() - started}))
        found = json.loads(path.read_text())
        out.append(found["scores"])
        seconds += found["s"]
    return out, seconds / max(1, len(clips))


def with_tiny(lists: Lists, tiny: list[list[float]], m: Method, weight: float) -> list[str]:
    """The hypotheses ``m`` chooses once tiny.en's log probability is added at ``weight``."""
    return [
        normalise(
            max(zip(hyps, row, strict=True), key=lambda x: x[0].score(m) + weight * x[1])[0].text
        )
        if hyps
        else "<empty>"
        for hyps, row in zip(lists.lists[m.decode], tiny, strict=True)
    ]


def tiny_phase(cache: Path, sets: dict[str, list[Clip]], weights: Sequence[float]) -> None:
    """Errors per set with tiny.en's opinion added at each weight (0 = the default)."""
    print(
        f"| set | clips | {' | '.join(f'tiny.en weight {w}' for w in weights)} | tiny.en s per clip |"
    )
    print("|" + " --- |" * (len(weights) + 3))
    for name, clips in sets.items():
        if not clips:
            continue
        lists = Lists(cache, clips, [DEFAULT.decode])
        tiny, seconds = tiny_scores(cache, clips, lists)
        cells = []
        for w in weights:
            out = jiwer.process_words(lists.refs, with_tiny(lists, tiny, DEFAULT, w))
            errors = out.substitutions + out.deletions + out.insertions
            cells.append(f"{out.wer:.3f} ({errors})")
        print(f"| {name} | {len(clips)} | {' | '.join(cells)} | {seconds:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--phase", choices=("tune", "final", "tiny-tune", "tiny-final"), required=True
    )
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/overheard-asr-cache"))
    args = parser.parse_args()
    seen = {r.text for split in ("train", "heldout") for r in seed_requests(split)}
    assert not (seen | set(NEW_REQUESTS) | set(external_requests())) & set(FRESH_REQUESTS)
    tuning = kept(args.cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
    if args.phase == "tune":
        tune(args.cache, tuning)
        return
    if args.phase == "tiny-tune":
        tiny_phase(args.cache, {"requests (tuning)": tuning}, TINY_WEIGHTS)
        return
    sets = reported_sets(args.data, args.cache, tuning)
    held_espeak = sets["external held-out (espeak-ng, every 2nd)"]
    held_piper = sets["external held-out (piper, every 2nd)"]
    if held_piper:
        sets["external held-out (all)"] = held_espeak + held_piper
    fresh = fresh_set(args.cache)
    n_espeak = len(FRESH_REQUESTS) * len(FRESH_VOICES)
    sets[f"fresh held-out (espeak-ng {', '.join(FRESH_VOICES)})"] = fresh[:n_espeak]
    sets["fresh held-out (piper)"] = fresh[n_espeak:]
    if fresh[n_espeak:]:
        sets["fresh held-out (all)"] = fresh
    if args.phase == "tiny-final":
        tiny_phase(args.cache, sets, (0.0, TINY_FROZEN))
    else:
        final(args.cache, sets)



def reported_sets(data: Path, cache: Path, tuning: list[Clip]) -> dict[str, list[Clip]]:
    """The sets every final phase reports, in order: librivox and cards (when the data holds them),
    the tuning requests, and the external held-out requests in each voice family."""
    sets: dict[str, list[Clip]] = {}
    asr_dir = data / "asr"
    if asr_dir.is_dir():
        sets["librivox"] = read_set(asr_dir / "librivox", "transcription")
        sets["cards"] = read_set(asr_dir / "cards", "cards.transcription")
    sets["requests (tuning)"] = tuning
    held_espeak, held_piper = heldout_set(cache)
    sets["external held-out (espeak-ng, every 2nd)"] = held_espeak
    sets["external held-out (piper, every 2nd)"] = held_piper
    return sets

if __name__ == "__main__":
    main()
