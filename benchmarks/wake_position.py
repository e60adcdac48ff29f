"""Where the wake word ends, and what is kept: pre-wake speech, the request's start, recognition.

Run: ``python benchmarks/wake_position.py [--data DIR] [--clips N]``.

Each test clip is real private talk (LibriSpeech test-other, 0 to 24 s), then a real "alexa"
(``wakeword/alexa``, cut to its speech by the VAD), then a synthesised request (espeak-ng), said
without a pause. It goes through the production ``pipeline.analyse`` (openWakeWord mode, default
settings). Only the even-numbered alexa recordings (in name order) are used: the rule that locates
the word's end (the first frame at the threshold) was chosen on the odd-numbered ones.

Baseline, same clips, same run: the code before this measure, which stored the whole clip and
recognised from 0.1 s before the best frame, wherever in the clip it was.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _alexa import alexa_words

from overheard.config import Settings
from overheard.demo import synthesise
from overheard.recordings.models import Status
from overheard.speech.audio import read_audio_file
from overheard.speech.pipeline import WAKE_PRE_ROLL_S, analyse, stack_from_settings
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.wake import FRAME_SAMPLES, LEAD_PAD_S, SAMPLE_RATE_HZ, TRAIL_PAD_S

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NEAR_S = (0.0, 5.0, 10.0, 15.0)
"""Seconds of private talk before a wake word that is near enough to keep the request."""
FAR_S = (21.0, 24.0)
"""Seconds of private talk that put the wake word past ``wake_latest_end_s``."""
REQUESTS = (
    ("turn on the lights in the kitchen", "en-gb"),
    ("what is the weather in paris tomorrow", "en-us"),
    ("set a timer for ten minutes", "en-gb"),
    ("play some jazz music", "en-us"),
    ("add milk to my shopping list", "en-gb"),
)
STOP_WORDS = frozenset({"the", "in", "a", "for", "to", "my", "some", "is", "on"})
OLD_TAIL_S = 0.1
"""The baseline cut this much before the best frame."""


@dataclass
class Row:
    """One near clip's figures."""

    detected: bool
    pre_wake_kept_s: float
    request_lost_s: float
    words_heard: float
    old_detected: bool
    old_request_lost_s: float
    old_words_heard: float


def held_out_alexa_words(data: Path) -> list[np.ndarray]:
    """The held-out alexa recordings, each cut to its speech."""
    return alexa_words(data, stack_from_settings(Settings()).vad, parity=0)


def librispeech(data: Path) -> np.ndarray:
    """All LibriSpeech test-other utterances, one long stream of other people's talk."""
    paths = sorted((data / "speakers" / "librispeech-test-other").rglob("*.flac"))
    return np.concatenate([read_audio_file(p).pcm for p in paths])


def talk(stream: np.ndarray, seconds: float, index: int) -> np.ndarray:
    """``seconds`` of the talk stream, from a different place for each clip."""
    n = round(seconds * SAMPLE_RATE_HZ)
    start = (index * 7 * SAMPLE_RATE_HZ) % (stream.size - n - 1)
    return stream[start : start + n]


def words_heard(text: str, request: str) -> float:
    """Share of the request's content words found in ``text``."""
    wanted = [w for w in request.split() if w not in STOP_WORDS]
    heard = set(text.split())
    return sum(w in heard for w in wanted) / len(wanted)


def old_cut_s(stack, pcm: np.ndarray) -> float | None:  # type: ignore[no-untyped-def]
    """The baseline: 0.1 s before the best frame over the whole clip, None below threshold."""
    lead = round(LEAD_PAD_S * SAMPLE_RATE_HZ)
    trail = round(TRAIL_PAD_S * SAMPLE_RATE_HZ)
    trail += -(lead + pcm.size + trail) % FRAME_SAMPLES
    padded = np.concatenate([np.zeros(lead, np.int16), pcm, np.zeros(trail, np.int16)])
    scores = stack.wake.frame_scores(padded)
    best = int(np.argmax(scores))
    if scores[best] < stack.wake_threshold:
        return None
    return max(((best + 1) * FRAME_SAMPLES - lead) / SAMPLE_RATE_HZ - OLD_TAIL_S, 0.0)


def old_words(stack, pcm: np.ndarray, cut_s: float, request: str) -> float:  # type: ignore[no-untyped-def]
    """Recognition of the request the baseline way."""
    rest = pcm[round(cut_s * SAMPLE_RATE_HZ) :]
    segments = speech_segments(rest, stack.vad)
    if not segments:
        return 0.0
    return words_heard(stack.asr.transcribe(trim_silence(rest, segments)).text, request)


def near_row(stack, private: np.ndarray, word: np.ndarray, request: tuple[str, str]) -> Row:  # type: ignore[no-untyped-def]
    """Figures of one clip whose wake word is near enough."""
    speech = synthesise(*request)
    clip = np.concatenate([private, word, speech])
    private_end_s = private.size / SAMPLE_RATE_HZ
    request_start_s = (private.size + word.size) / SAMPLE_RATE_HZ
    outcome = analyse(stack, clip)
    detected = outcome.status is not Status.ACCIDENTAL
    kept_s = outcome.kept_from_s if outcome.kept_from_s is not None else 0.0
    heard_s = outcome.wake.peak_s - WAKE_PRE_ROLL_S if detected and outcome.wake else 0.0
    text = outcome.transcript.text if outcome.transcript else ""
    cut = old_cut_s(stack, clip)
    return Row(
        detected=detected,
        pre_wake_kept_s=max(0.0, private_end_s - kept_s) if detected else 0.0,
        request_lost_s=max(0.0, heard_s - request_start_s) if detected else 0.0,
        words_heard=words_heard(text, request[0]) if detected else 0.0,
        old_detected=cut is not None,
        old_request_lost_s=max(0.0, cut - request_start_s) if cut is not None else 0.0,
        old_words_heard=old_words(stack, clip, cut, request[0]) if cut is not None else 0.0,
    )


def report_near(rows_by_s: dict[float, list[Row]]) -> None:
    """One line per private-talk length, ours beside the baseline."""
    print(
        "| private talk (s) | clips | detected | pre-wake speech stored (s, mean / max) "
        "| request start lost > 0.1 s | request words recognised |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for seconds, rows in rows_by_s.items():
        n = len(rows)
        det = [r for r in rows if r.detected]
        old = [r for r in rows if r.old_detected]
        kept = [r.pre_wake_kept_s for r in det] or [0.0]
        print(
            f"| {seconds:.0f} | {n} | {len(det)}/{n} (baseline {len(old)}/{n}) "
            f"| {np.mean(kept):.2f} / {max(kept):.2f} (baseline {seconds:.2f} / {seconds:.2f}) "
            f"| {sum(r.request_lost_s > 0.1 for r in det)}/{len(det)} "
            f"(baseline {sum(r.old_request_lost_s > 0.1 for r in old)}/{len(old)}) "
            f"| {np.mean([r.words_heard for r in det] or [0]):.3f} "
            f"(baseline {np.mean([r.old_words_heard for r in old] or [0]):.3f}) |"
        )


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--clips", type=int, default=100, help="held-out alexa clips to use")
    args = parser.parse_args()
    stack = stack_from_settings(Settings())
    words = held_out_alexa_words(args.data)[: args.clips]
    stream = librispeech(args.data)
    near: dict[float, list[Row]] = {s: [] for s in NEAR_S}
    far: dict[float, list[tuple[bool, bool]]] = {s: [] for s in FAR_S}
    for i, word in enumerate(words):
        request = REQUESTS[i % len(REQUESTS)]
        seconds = NEAR_S[i % len(NEAR_S)]
        near[seconds].append(near_row(stack, talk(stream, seconds, i), word, request))
        far_s = FAR_S[i % len(FAR_S)]
        clip = np.concatenate([talk(stream, far_s, i), word, synthesise(*request)])
        ours = analyse(stack, clip).status is Status.ACCIDENTAL
        far[far_s].append((ours, old_cut_s(stack, clip) is None))
    print(f"held-out alexa clips: {len(words)}; wake_latest_end_s = {stack.wake_latest_end_s}")
    report_near(near)
    print()
    print("| private talk (s) | clips | accidental (ours) | accidental (baseline) |")
    print("| --- | --- | --- | --- |")
    for seconds, flags in far.items():
        n = len(flags)
        ours, old = sum(f[0] for f in flags), sum(f[1] for f in flags)
        print(f"| {seconds:.0f} | {n} | {ours}/{n} | {old}/{n} |")


if __name__ == "__main__":
    main()
