"""Where the request ends: how much trailing private talk is cut, and which requests lose words.

Run: ``python benchmarks/endpoint.py [--data DIR] [--split tune|heldout] [--pauses 0.5,0.8,...]``.

Part 1, real speech as the request. Each clip is taken as a request said right after the wake
word and end-pointed by the production rule (``pipeline.request_until``: the first pause of
``request_end_silence_s`` after speech started; ``request_max_s`` after the wake word at most). The
default recogniser hears the whole clip once; a clip "keeps all its words" when no recognised word's
midpoint falls after the cut. On the held-out split each clip that is cut is recognised again, cut,
and its word error rate against the whole clip's transcript is reported. Split by speaker:
LibriSpeech test-other speakers 1st, 3rd, … (sorted ids) tune; 2nd, 4th, … plus ``asr/cards`` and
``asr/librivox`` are held out. Baseline, same clips: no end-pointing (everything kept).

Part 2, trailing private talk. Held-out alexa recordings (even-numbered; the wake-word tail rule was
set on odd ones), then a synthesised request (espeak-ng, cut to its speech; two of five with a 0.6-s hesitation),
then 0 to 4 s of quiet, then 15 s of real LibriSpeech talk. The wake word is located and the request
end-pointed as in production (``verify_wake_word``, ``kept_from``, ``request_until``). Reported per
quiet length: the share of the private talk's samples removed, and the share of requests whose audio
is wholly kept, beside the baseline (no end-pointing: kept to the clip's end) of the same clips.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from _alexa import alexa_words

from overheard.config import Settings
from overheard.demo import synthesise
from overheard.learn.metrics import wer
from overheard.speech.asr import Transcript
from overheard.speech.audio import read_audio_file
from overheard.speech.pipeline import SpeechStack, kept_from, request_until, stack_from_settings
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.wake import SAMPLE_RATE_HZ, verify_wake_word

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LIBRISPEECH = Path("speakers") / "librispeech-test-other"
PAUSES_S = (0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0)
"""End-of-request pauses tried on the tuning split."""
QUIET_S = (0.0, 0.5, 1.0, 2.0, 4.0)
"""Quiet between the request and the private talk in part 2, seconds."""
PRIVATE_S = 15.0
"""Seconds of private talk after the request in part 2."""
HESITATION_S = 0.6
"""A pause inside two of the part-2 requests, seconds."""
REQUESTS = (
    (("what time is it",), "en-us"),
    (("set a timer for", "ten minutes"), "en-gb"),
    (("turn on the lights in the kitchen",), "en-us"),
    (("add milk", "and eggs to my shopping list"), "en-gb"),
    (("what is the weather in paris tomorrow",), "en-gb"),
)


@dataclass(frozen=True)
class Clip:
    """One real recording used as a request."""

    name: str
    pcm: np.ndarray
    heard: Transcript
    """The default recogniser on the whole clip."""


def real_clips(data: Path, split: str) -> list[tuple[str, np.ndarray]]:
    """(name, pcm) of the split's real recordings."""
    speakers = sorted(p for p in (data / LIBRISPEECH).iterdir() if p.is_dir())
    chosen = speakers[0::2] if split == "tune" else speakers[1::2]
    paths = [f for s in chosen for f in sorted(s.glob("*.flac"))]
    if split == "heldout":
        paths += sorted((data / "asr" / "cards").glob("*.wav"))
        paths += sorted((data / "asr" / "librivox").glob("*.wav"))
    return [(f"{p.parent.name}/{p.stem}", read_audio_file(p).pcm) for p in paths]


def cut_s(stack: SpeechStack, pcm: np.ndarray, pause_s: float, max_s: float) -> float:
    """Where the production rule ends ``pcm`` taken as a request from its first sample."""
    ruled = replace(stack, request_end_silence_s=pause_s, request_max_s=max_s)
    ruled.__dict__["vad"] = stack.vad  # share the loaded graph (a cached property)
    until = request_until(ruled, pcm, 0.0, 0.0)
    return pcm.size / SAMPLE_RATE_HZ if until is None else until


def words_lost(clip: Clip, cut: float) -> int:
    """Recognised words of the whole clip whose midpoint falls after ``cut``."""
    return sum((w.start_s + w.end_s) / 2 > cut for w in clip.heard.words)


def part1_line(stack: SpeechStack, clips: list[Clip], pause_s: float, max_s: float) -> str:
    """One row: clips cut, clips keeping all their words, words lost."""
    cuts = [cut_s(stack, c.pcm, pause_s, max_s) for c in clips]
    lost = [words_lost(c, t) for c, t in zip(clips, cuts, strict=True)]
    n, total = len(clips), sum(len(c.heard.words) for c in clips)
    cut = sum(t < c.pcm.size / SAMPLE_RATE_HZ - 1e-6 for c, t in zip(clips, cuts, strict=True))
    whole = sum(x == 0 for x in lost)
    limit = "none" if math.isinf(max_s) else f"{max_s:.0f}"
    return (
        f"| {pause_s:.1f} | {limit} | {cut}/{n} | {whole}/{n} ({whole / n:.1%}) "
        f"| {sum(lost)}/{total} ({sum(lost) / max(total, 1):.2%}) |"
    )


def part1(stack: SpeechStack, clips: list[Clip], pauses: tuple[float, ...], wer_too: bool) -> None:
    """Table of part 1, and on the held-out split the WER of the cut clips."""
    seconds = [c.pcm.size / SAMPLE_RATE_HZ for c in clips]
    print(f"real clips: {len(clips)}, {sum(seconds):.1f} s (longest {max(seconds):.1f} s)")
    print(
        f"baseline (no end-pointing): {len(clips)}/{len(clips)} keep all their words, 0 words lost"
    )
    print("| pause (s) | max (s) | clips cut | clips keeping all words | words lost |")
    print("| --- | --- | --- | --- | --- |")
    for pause_s in pauses:
        print(part1_line(stack, clips, pause_s, math.inf))
    for pause_s in pauses:
        print(part1_line(stack, clips, pause_s, stack.request_max_s))
    if wer_too:
        print()
        part1_wer(stack, clips)


def part1_wer(stack: SpeechStack, clips: list[Clip]) -> None:
    """WER of the kept audio's transcript against the whole clip's, for the clips the defaults cut."""
    for max_s in (math.inf, stack.request_max_s):
        refs, hyps, names = [], [], []
        for clip in clips:
            cut = cut_s(stack, clip.pcm, stack.request_end_silence_s, max_s)
            if cut >= clip.pcm.size / SAMPLE_RATE_HZ - 1e-6:
                continue
            kept = clip.pcm[: round(cut * SAMPLE_RATE_HZ)]
            refs.append(clip.heard.text)
            hyps.append(stack.asr.transcribe(kept).text)
            names.append(clip.name)
        limit = "none" if math.isinf(max_s) else f"{max_s:.0f} s"
        rate = wer(refs, hyps) if refs else 0.0
        print(f"defaults, max {limit}: {len(refs)} clips cut; WER kept vs whole {rate:.3f}")
        for name, ref, hyp in zip(names, refs, hyps, strict=True):
            print(f"  {name}: whole {ref!r}\n  {' ' * len(name)}  kept  {hyp!r}")


@dataclass
class Row:
    """One part-2 clip."""

    detected: bool
    private_kept: int
    """Samples of the private talk kept."""
    request_whole: bool
    """Every sample of the request (from the wake word's end) is kept."""


def spoken(stack: SpeechStack, request: tuple[tuple[str, ...], str]) -> np.ndarray:
    """The request, each part cut to its speech, the parts separated by a hesitation."""
    parts, voice = request
    pause = np.zeros(round(HESITATION_S * SAMPLE_RATE_HZ), np.int16)
    out: list[np.ndarray] = []
    for part in parts:
        pcm = synthesise(part, voice)
        pcm = trim_silence(pcm, speech_segments(pcm, stack.vad))
        out += [pause, pcm] if out else [pcm]
    return np.concatenate(out)


def part2_row(stack: SpeechStack, word: np.ndarray, request: np.ndarray, quiet_s: float,
              private: np.ndarray) -> Row:  # fmt: skip
    """Figures of one clip."""
    gap = np.zeros(round(quiet_s * SAMPLE_RATE_HZ), np.int16)
    clip = np.concatenate([word, request, gap, private])
    wake = verify_wake_word(clip, stack.wake, stack.wake_threshold)
    if not wake.detected or wake.at_s is None:
        return Row(False, 0, False)
    heard_from = kept_from(wake.peak_s if wake.peak_s is not None else wake.at_s)
    until = request_until(stack, clip, kept_from(wake.at_s), heard_from)
    end = clip.size if until is None else round(until * SAMPLE_RATE_HZ)
    private_from = clip.size - private.size
    return Row(True, max(0, end - private_from), end >= word.size + request.size)


def part2(stack: SpeechStack, data: Path, clips: int) -> None:
    """Table of part 2."""
    words = alexa_words(data, stack.vad, parity=0)[:clips]
    paths = sorted((data / LIBRISPEECH).rglob("*.flac"))
    stream = np.concatenate([read_audio_file(p).pcm for p in paths])
    n = round(PRIVATE_S * SAMPLE_RATE_HZ)
    requests = [spoken(stack, r) for r in REQUESTS]
    rows: dict[float, list[Row]] = {q: [] for q in QUIET_S}
    for i, word in enumerate(words):
        start = (i * 7 * SAMPLE_RATE_HZ) % (stream.size - n - 1)
        quiet_s = QUIET_S[i % len(QUIET_S)]
        request = requests[(i // len(QUIET_S)) % len(requests)]
        rows[quiet_s].append(part2_row(stack, word, request, quiet_s, stream[start : start + n]))
    print(f"held-out alexa clips: {len(words)}; {PRIVATE_S:.0f} s of private talk after each")
    print(
        "| quiet before the talk (s) | clips | detected | private talk removed "
        "| private talk kept (s, mean / max) | requests wholly kept |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for quiet_s, got in rows.items():
        det = [r for r in got if r.detected]
        kept = [r.private_kept / SAMPLE_RATE_HZ for r in det] or [0.0]
        removed = 1 - sum(kept) / (PRIVATE_S * max(len(det), 1))
        whole = sum(r.request_whole for r in det)
        print(
            f"| {quiet_s:.1f} | {len(got)} | {len(det)} | {removed:.1%} (baseline 0.0%) "
            f"| {np.mean(kept):.2f} / {max(kept):.2f} (baseline {PRIVATE_S:.2f} / {PRIVATE_S:.2f}) "
            f"| {whole}/{len(det)} (baseline {len(det)}/{len(det)}) |"
        )


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--split", choices=("tune", "heldout"), default="heldout")
    parser.add_argument("--pauses", default=None, help="comma-separated pauses, seconds")
    parser.add_argument("--clips", type=int, default=100, help="alexa clips in part 2")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part2", action="store_true")
    args = parser.parse_args()
    stack = stack_from_settings(Settings())
    print(
        f"split {args.split}; defaults: request_end_silence_s = {stack.request_end_silence_s}, "
        f"request_max_s = {stack.request_max_s}"
    )
    pauses = (
        tuple(float(p) for p in args.pauses.split(","))
        if args.pauses
        else (PAUSES_S if args.split == "tune" else (stack.request_end_silence_s,))
    )
    if not args.skip_part1:
        named = real_clips(args.data, args.split)
        clips = [Clip(n, pcm, stack.asr.transcribe(pcm)) for n, pcm in named]
        part1(stack, clips, pauses, wer_too=args.split == "heldout")
        print()
    if not args.skip_part2:
        part2(stack, args.data, args.clips)


if __name__ == "__main__":
    main()
