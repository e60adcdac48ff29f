"""Hear less: seconds a reviewer hears with ``serve_focus_context_s``, and the errors inside them.

Run: ``python benchmarks/hear_less.py [--data DIR] [--requests N]``.

Clips: the shared data's real read speech with references (``asr/librivox``, ``asr/cards``) and
SLURP requests (``nlu/slurp/devel.jsonl``, the first N) spoken by espeak-ng in four voices with
20 dB noise: text the recogniser's domain model was not built from. Each clip is recognised by the
default recogniser and aligned with its reference (jiwer): a recogniser *error* is a substituted or
inserted word, or the gap where a word was deleted. A focused serve covers an error when the error's
time lies inside the served span. The defaults (0.6 confidence, context swept below) were set
before this was run; nothing was tuned on these clips.

Baselines, same run: the whole clip (what is served without the option), and a span of the same
length at a random place in the clip (does confidence point at the errors better than chance?).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np

from overheard.config import Settings
from overheard.demo import synthesise, with_noise
from overheard.protect.focus import TimedWord, focus_span
from overheard.speech.asr import Transcript
from overheard.speech.audio import read_audio_file
from overheard.speech.pipeline import stack_from_settings

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RATE_HZ = 16000
CONTEXTS_S = (0.25, 0.5, 1.0)
BELOW = 0.6
"""``serve_focus_below``'s default."""
VOICES = ("en-gb", "en-us", "en+f3", "en-us+m3")
SNR_DB = 20.0
SEED = 12


@dataclass(frozen=True)
class Clip:
    """One recognised clip: its length, its words and where the recogniser went wrong."""

    duration_s: float
    words: list[TimedWord]
    errors_s: list[float]
    """Times (seconds) of the recogniser's errors."""


def references(folder: Path, name: str) -> dict[str, str]:
    """Sphinx-style ``<s> text </s> (id)`` lines by id."""
    out = {}
    for line in (folder / name).read_text().splitlines():
        text, _, rest = line.rpartition("(")
        out[rest.strip(" )")] = text.replace("<s>", "").replace("</s>", "").strip()
    return out


def real_clips(data: Path) -> list[tuple[np.ndarray, str]]:
    """(pcm, reference) of the recorded clips."""
    pairs = []
    for folder, name in (("librivox", "transcription"), ("cards", "cards.transcription")):
        refs = references(data / "asr" / folder, name)
        for clip_id, text in refs.items():
            pairs.append((read_audio_file(data / "asr" / folder / f"{clip_id}.wav").pcm, text))
    return pairs


def spoken_requests(data: Path, n: int) -> list[tuple[np.ndarray, str]]:
    """(pcm, reference) of the first ``n`` SLURP requests, synthesised with noise."""
    rng = np.random.default_rng(SEED)
    lines = (data / "nlu" / "slurp" / "devel.jsonl").read_text().splitlines()[:n]
    pairs = []
    for i, line in enumerate(lines):
        text = json.loads(line)["sentence"]
        pcm = with_noise(synthesise(text, VOICES[i % len(VOICES)]), SNR_DB, rng)
        pairs.append((pcm, text))
    return pairs


def recognised(transcript: Transcript, reference: str, duration_s: float) -> Clip:
    """The clip's words and the times of its errors against ``reference``."""
    words = [TimedWord(w.start_s, w.end_s, w.confidence) for w in transcript.words]
    if not words:
        return Clip(duration_s, words, [duration_s / 2] if reference.split() else [])
    hyp = " ".join(w.text for w in transcript.words).lower()
    out = jiwer.process_words(reference.lower(), hyp)
    errors: list[float] = []
    for chunk in out.alignments[0]:
        if chunk.type in ("substitute", "insert"):
            errors += [
                (w.start_s + w.end_s) / 2 for w in words[chunk.hyp_start_idx : chunk.hyp_end_idx]
            ]
        elif chunk.type == "delete":
            k = chunk.hyp_start_idx
            errors.append(words[k - 1].end_s if k > 0 else words[0].start_s)
    return Clip(duration_s, words, errors)


def covered(errors: list[float], span: tuple[float, float]) -> int:
    """Errors inside the span."""
    return sum(span[0] <= t <= span[1] for t in errors)


def row(label: str, clips: list[Clip], spans: list[tuple[float, float]]) -> str:
    """One line: seconds heard per clip, share of the audio, errors inside the span."""
    heard = sum(b - a for a, b in spans)
    total = sum(c.duration_s for c in clips)
    errors = sum(len(c.errors_s) for c in clips)
    inside = sum(covered(c.errors_s, s) for c, s in zip(clips, spans, strict=True))
    with_errors = [(c, s) for c, s in zip(clips, spans, strict=True) if c.errors_s]
    whole = sum(covered(c.errors_s, s) == len(c.errors_s) for c, s in with_errors)
    return (
        f"| {label} | {heard / len(clips):.2f} | {heard / total:.3f} | {inside}/{errors} "
        f"({inside / max(errors, 1):.3f}) | {whole}/{len(with_errors)} |"
    )


def random_spans(clips: list[Clip], spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Spans of the same lengths placed uniformly at random in each clip."""
    rng = np.random.default_rng(SEED)
    out = []
    for clip, (a, b) in zip(clips, spans, strict=True):
        start = rng.uniform(0.0, max(clip.duration_s - (b - a), 0.0))
        out.append((start, start + (b - a)))
    return out


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    stack = stack_from_settings(Settings())
    pairs = real_clips(args.data) + spoken_requests(args.data, args.requests)
    clips = [recognised(stack.asr.transcribe(p), ref, p.size / RATE_HZ) for p, ref in pairs]
    print(
        f"{len(clips)} clips ({len(real_clips(args.data))} recorded), recogniser {stack.asr_spec}"
    )
    print(
        "| served | seconds per clip | share of audio | errors inside | clips with every error inside |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("whole clip (baseline)", clips, [(0.0, c.duration_s) for c in clips]))
    for context_s in CONTEXTS_S:
        spans = [focus_span(c.words, c.duration_s, below=BELOW, context_s=context_s) for c in clips]
        print(row(f"focus, ±{context_s:g} s", clips, spans))
        print(
            row(f"random span, same lengths (±{context_s:g} s)", clips, random_spans(clips, spans))
        )


if __name__ == "__main__":
    main()
