"""What the default recogniser hears in the pipeline: spoken requests after a real wake word, cut
where the pipeline cuts, scored two ways; and what the cut and the trim do to the figure.

Run: PYTHONPATH=src:benchmarks nice -n 5 .venv/bin/python benchmarks/asr_heard.py
     --phase tune|final [--data ../shared/data] [--cache /tmp/overheard-asr-cache]

The other spoken-request benchmarks decode the synthesised request alone. In the pipeline the
request follows the wake word, and the recogniser hears it from just before where the detector's
score peaks (``pipeline.after_wake`` → ``heard_request``), end-pointed, then trimmed to the VAD's
speech spans (``trim_silence``). Each clip here is a real "alexa" (``wakeword/alexa``, cut to its
speech) followed at once by a synthesised request (its leading 0.2 s of padding dropped: said
without a pause, the hardest case for the cut); variants of what is heard:

- ``request alone``: the synthesised request as the other benchmarks decode it (reference);
- ``pipeline``: what the pipeline hears today (the baseline);
- ``pre-roll +x``: the recogniser starts ``x`` s earlier than the pipeline's cut;
- ``untrimmed``: the end-pointed audio without the VAD trim;
- ``padded p``: the pipeline's audio with ``p`` s of silence added at both ends.

Every variant is decoded as the default recogniser decodes (the 5 best of a beam of 5, rescored
with the seed requests: ``asr_decoding.Lists``), cached on disk by audio. WER is scored by
``asr_wer.normalise`` (lowercase words, titles folded) and, when ``whisper-normalizer`` is
installed, by OpenAI Whisper's English normaliser on top of it (contractions, spellings, numbers);
every row is scored both ways, references and hypotheses alike, and the wake word is taken out of
the hypothesis as the pipeline does (``without_keywords``).

Phases (split by sentence and voice, and the wake words by recording):

- ``tune``: the 24 tuning phrasings × espeak-ng en-us, en-gb, en+f3 after the odd-numbered alexa
  recordings (those the wake word's end rule was chosen on); every variant; the default's errors
  by kind.
- ``final``: ``FROZEN`` beside the pipeline as it is, once, on the external held-out set (every 2nd
  espeak-ng clip) and the fresh set, after the even-numbered alexa recordings; and librivox
  (``--alone``: also the held-out requests alone, as the other benchmarks decode them).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _alexa import alexa_words
from asr_choice import kept, spoken
from asr_decoding import DEFAULT, Lists
from asr_lm import fresh_set, heldout_set
from asr_wer import ESPEAK_VOICES, NEW_REQUESTS, PAD_SAMPLES, Clip, normalise, read_set

from overheard.config import Settings
from overheard.speech.pipeline import (
    SAMPLE_RATE_HZ,
    SpeechStack,
    after_wake,
    heard_request,
    stack_from_settings,
    without_keywords,
)
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.wake import verify_wake_word


@dataclass(frozen=True)
class Hearing:
    """How the pipeline's audio is taken from a clip."""

    pre_roll_s: float = 0.0
    """Extra seconds heard before the pipeline's cut."""
    trim: bool = True
    pad_s: float = 0.0
    """Silence added at both ends of what is heard."""

    def label(self) -> str:
        parts = []
        if self.pre_roll_s:
            parts.append(f"pre-roll +{self.pre_roll_s:g} s")
        if not self.trim:
            parts.append("untrimmed")
        if self.pad_s:
            parts.append(f"padded {self.pad_s:g} s")
        return "pipeline" + (": " + ", ".join(parts) if parts else " (as it is)")


PIPELINE = Hearing()
HEARINGS = (
    PIPELINE,
    Hearing(pre_roll_s=0.1),
    Hearing(pre_roll_s=0.2),
    Hearing(pre_roll_s=0.5),
    Hearing(pre_roll_s=1.0),
    Hearing(trim=False),
    Hearing(pad_s=0.2),
    Hearing(pad_s=0.5),
)
FROZEN = Hearing(pad_s=0.2)
"""Chosen on the tuning set before any held-out clip was scored: 100 → 88 errors of 450 words
(pre-roll +0.2 s gave 83, but +0.1 s 104 and +1.0 s 118: no trend). Held-out, once: external
0.271 → 0.249, fresh 0.164 → 0.188; not adopted (docs/models/asr.md)."""


def after_words(clips: Sequence[Clip], words: Sequence[np.ndarray]) -> list[Clip]:
    """Each request said right after a wake word (the words in turn), its lead padding dropped."""
    return [
        (ref, np.concatenate([words[i % len(words)], pcm[PAD_SAMPLES:]]))
        for i, (ref, pcm) in enumerate(clips)
    ]


def heard(stack: SpeechStack, pcm: np.ndarray, how: Hearing) -> np.ndarray | None:
    """What the recogniser hears of a clip taken ``how``; None when the wake word is missed."""
    wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
    if not wake.detected or wake.at_s is None:
        return None
    kept_from_s, heard_from_s = after_wake(wake)
    heard_from_s = max(0.0, heard_from_s - how.pre_roll_s)
    request, _ = heard_request(stack, pcm, min(kept_from_s, heard_from_s), heard_from_s)
    if how.trim:
        request = trim_silence(request, speech_segments(request, stack.vad))
    return padded_pcm(request, how.pad_s)


def padded_pcm(pcm: np.ndarray, pad_s: float) -> np.ndarray:
    """``pcm`` with ``pad_s`` of digital silence at both ends."""
    pad = np.zeros(round(pad_s * SAMPLE_RATE_HZ), np.int16)
    return np.concatenate([pad, pcm, pad])


def whisper_normaliser() -> Callable[[str], str] | None:
    """OpenAI Whisper's English normaliser (``whisper-normalizer``), or None when not installed."""
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        return None
    return EnglishTextNormalizer()


def scored(refs: Sequence[str], hyps: Sequence[str], fold: Callable[[str], str]) -> tuple[int, int]:
    """(errors, reference words) with ``fold`` applied to both sides."""
    r = [fold(x) or "<empty>" for x in refs]
    h = [fold(x) or "<empty>" for x in hyps]
    out = jiwer.process_words(r, h)
    return out.substitutions + out.deletions + out.insertions, sum(len(x.split()) for x in r)


class Scorer:
    """The two scorings of every row."""

    def __init__(self) -> None:
        self.english = whisper_normaliser()
        if self.english is None:
            print("whisper-normalizer not installed: the second scoring is left out")

    def cells(self, refs: Sequence[str], hyps: Sequence[str]) -> str:
        e, n = scored(refs, hyps, normalise)
        out = f"{e / n:.3f} ({e}/{n})"
        if self.english is not None:
            english = self.english
            e2, n2 = scored(refs, hyps, lambda t: english(normalise(t)))
            out += f" | {e2 / n2:.3f} ({e2}/{n2})"
        return out


def decoded(
    cache: Path, stack: SpeechStack, clips: Sequence[Clip], how: Hearing | None
) -> tuple[list[str], list[str], int]:
    """(references, hypotheses, missed wake words): the default's choice on what is heard
    (``how`` None: the request alone); a clip whose wake word is missed counts as heard empty."""
    refs, audio, missed = [], [], 0
    for ref, pcm in clips:
        sound = pcm if how is None else heard(stack, pcm, how)
        if sound is None or sound.size == 0:
            missed += 1
            sound = np.zeros(SAMPLE_RATE_HZ // 10, np.int16)
        refs.append(ref)
        audio.append((ref, sound))
    lists = Lists(cache, audio, [DEFAULT.decode])
    hyps = [without_keywords(h, stack.wake_keywords) for h in lists.chosen(DEFAULT)]
    return refs, hyps, missed


def kinds(refs: Sequence[str], hyps: Sequence[str], english: Callable[[str], str] | None) -> None:
    """The errors of each clip by kind: gone under the English normaliser (spelling), at the
    request's first or last word (the cut), words added past the request (hallucination), or
    within it (acoustic)."""
    counts = dict.fromkeys(("spelling", "first word", "last word", "added", "acoustic"), 0)
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = normalise(ref), normalise(hyp)
        if r == h:
            continue
        plain, _ = scored([r], [h], lambda t: t)
        if english is not None:
            folded, _ = scored([r], [h], lambda t: english(t))
            counts["spelling"] += plain - folded
            if folded == 0:
                print(f"  spelling: {r} -> {h}")
                continue
            plain = folded
        out = jiwer.process_words([r], [h])
        for chunk in out.alignments[0]:
            if chunk.type == "equal":
                continue
            size = max(
                chunk.ref_end_idx - chunk.ref_start_idx, chunk.hyp_end_idx - chunk.hyp_start_idx
            )
            rw = len(r.split())
            if chunk.type == "insert" and chunk.ref_start_idx in (0, rw):
                counts["added"] += size
            elif chunk.ref_start_idx == 0:
                counts["first word"] += size
            elif chunk.ref_end_idx == rw:
                counts["last word"] += size
            else:
                counts["acoustic"] += size
        print(f"  {r} -> {h}")
    print("errors by kind (alignment chunks, so the sum may differ by a few from the WER's count):")
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def tune(data: Path, cache: Path) -> None:
    stack = stack_from_settings(Settings())
    tuning = kept(cache, "tuning", lambda: spoken(NEW_REQUESTS, ESPEAK_VOICES, seed=0))
    clips = after_words(tuning, alexa_words(data, stack.vad, parity=1))
    scorer = Scorer()
    print(
        f"tuning: {len(clips)} clips after odd-numbered alexa recordings; load {os.getloadavg()[0]:.1f}"
    )
    print(
        "\n| what is heard | missed wake words | WER (errors/words) | WER, Whisper's English normaliser |"
    )
    print("| --- | --- | --- | --- |")
    refs, hyps, _ = decoded(cache, stack, tuning, None)
    print(
        f"| request alone (as the other benchmarks) | — | {scorer.cells(refs, hyps)} |", flush=True
    )
    kept_hyps = {}
    for how in HEARINGS:
        refs, hyps, missed = decoded(cache, stack, clips, how)
        kept_hyps[how] = hyps
        print(f"| {how.label()} | {missed} | {scorer.cells(refs, hyps)} |", flush=True)
    print(f"\nthe pipeline's errors on the tuning set (load {os.getloadavg()[0]:.1f}):")
    kinds(refs, kept_hyps[PIPELINE], scorer.english)
    for how in HEARINGS[1:]:
        changed = [
            (r, a, b)
            for r, a, b in zip(refs, kept_hyps[PIPELINE], kept_hyps[how], strict=True)
            if normalise(a) != normalise(b)
        ]
        print(f"\n{how.label()}: {len(changed)} clips changed")
        for r, a, b in changed:
            print(f"  {r}: {normalise(a)} -> {normalise(b)}")


def final(data: Path, cache: Path, alone: bool) -> None:
    stack = stack_from_settings(Settings())
    words = alexa_words(data, stack.vad, parity=0)
    external, _ = heldout_set(cache)
    sets = {
        "external held-out (espeak-ng, every 2nd)": (external, after_words(external, words)),
        "fresh held-out (espeak-ng)": (fresh := fresh_set(cache), after_words(fresh, words)),
    }
    scorer = Scorer()
    print(f"load {os.getloadavg()[0]:.1f}")
    print(
        "\n| set | clips | what is heard | missed wake words | WER | WER, Whisper's English "
        "normaliser |\n| --- | --- | --- | --- | --- | --- |"
    )
    asr_dir = data / "asr" / "librivox"
    if asr_dir.is_dir():
        librivox = read_set(asr_dir, "transcription")
        refs, hyps, _ = decoded(cache, stack, librivox, None)
        print(f"| librivox | {len(librivox)} | recording | — | {scorer.cells(refs, hyps)} |")
        padded = [(r, padded_pcm(p, FROZEN.pad_s)) for r, p in librivox]
        refs, hyps, _ = decoded(cache, stack, padded, None)
        print(
            f"| librivox | {len(librivox)} | recording, padded | — | {scorer.cells(refs, hyps)} |"
        )
    for name, (requests, clips) in sets.items():
        rows: list[tuple[str, Hearing | None]] = [(f"{PIPELINE.label()}, baseline", PIPELINE)]
        if FROZEN != PIPELINE:
            rows.append((f"**{FROZEN.label()}**", FROZEN))
        for label, how in rows:
            refs, hyps, missed = decoded(cache, stack, clips, how)
            print(
                f"| {name} | {len(clips)} | {label} | {missed} | {scorer.cells(refs, hyps)} |",
                flush=True,
            )
        if alone:
            refs, hyps, _ = decoded(cache, stack, requests, None)
            print(f"| {name} | {len(requests)} | request alone | — | {scorer.cells(refs, hyps)} |")
    print(f"load {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase", choices=("tune", "final"), required=True)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[1].parent / "shared" / "data"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/overheard-asr-cache"))
    parser.add_argument(
        "--alone", action="store_true", help="--phase final: also the requests alone"
    )
    args = parser.parse_args()
    if args.phase == "tune":
        tune(args.data, args.cache)
    else:
        final(args.data, args.cache, args.alone)


if __name__ == "__main__":
    main()
