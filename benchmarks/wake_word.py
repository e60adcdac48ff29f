"""Wake-word verification and VAD on the shared evaluation data: accuracy, threshold sweep, speed.

Run: ``python benchmarks/wake_word.py [--data DIR] [--no-reference]``.

Positives: ``wakeword/alexa`` (200 clips). Negatives: ``wakeword/computer`` (100 near misses) and
``speakers/librispeech-test-other/*/`` (100 read utterances that never say "alexa"). Every clip is
one decision, as on the server: a false accept is a negative clip whose best frame reaches the
threshold. Baselines measured in the same run: accepting every clip (no verification), the
openWakeWord library's own ``Model.predict_clip`` (the reference implementation of the same graphs),
and a frame-energy VAD.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from overheard.speech.vad import VAD_FRAME_SAMPLES, SileroVad, speech_segments, trim_silence
from overheard.speech.wake import (
    DEFAULT_WAKE_THRESHOLD,
    SAMPLE_RATE_HZ,
    WakeWordModel,
    verify_wake_word,
)

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
THRESHOLDS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SECONDS_PER_HOUR = 3600.0
VAD_THRESHOLD = 0.5
ENERGY_VAD_DBFS = -40.0
"""Frame-energy baseline: a 32 ms frame is speech when its RMS is above this level."""
NOISE_SECONDS = 60
NOISE_SEED = 20240
BROWN_DBFS = -25.0
"""RMS level of the brown (rumble-like) noise reference."""
BROWN_HIGHPASS_SAMPLES = 1600
"""Moving-average length taken off the random walk to keep it bounded (about a 10 Hz high-pass)."""
SPEED_HEADER = ("audio (s)", "wall (s)", "RTF wall", "CPU (s)", "RTF CPU")


@dataclass(frozen=True)
class Scored:
    """Best score of every clip in one set, with the audio and compute time spent."""

    name: str
    scores: np.ndarray
    audio_s: float
    wall_s: float
    cpu_s: float


def load_pcm16(path: Path) -> np.ndarray:
    """A file as mono 16 kHz int16 (ffmpeg for the few FLACs libsndfile cannot decode)."""
    try:
        data, rate = sf.read(path, dtype="int16", always_2d=True)
    except sf.LibsndfileError:
        return ffmpeg_pcm16(path)
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        common = gcd(rate, SAMPLE_RATE_HZ)
        mono = resample_poly(mono, SAMPLE_RATE_HZ // common, rate // common)
    return np.clip(np.round(mono), -32768, 32767).astype(np.int16)


def ffmpeg_pcm16(path: Path) -> np.ndarray:
    """Decode with the ffmpeg command to mono 16 kHz int16."""
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(path),
        "-f",
        "s16le",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE_HZ),
        "-",
    ]
    return np.frombuffer(subprocess.run(command, capture_output=True, check=True).stdout, np.int16)


def score_set(name: str, clips: list[np.ndarray], score: Callable[[np.ndarray], float]) -> Scored:
    """Time ``score`` over every clip."""
    wall, cpu = time.perf_counter(), time.process_time()
    scores = np.array([score(clip) for clip in clips])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Scored(name, scores, sum(c.size for c in clips) / SAMPLE_RATE_HZ, wall, cpu)


def reference_scorer() -> Callable[[np.ndarray], float]:
    """openWakeWord's own streaming loop over the same bundled graphs (1 s padding each side)."""
    from openwakeword import Model

    from overheard.speech._onnx import bundled_model
    from overheard.speech.wake import BUNDLED_MODEL

    model = Model(wakeword_model_paths=[str(bundled_model(BUNDLED_MODEL))])
    features = model.preprocessor
    fresh_features = features.feature_buffer.copy()

    def score(clip: np.ndarray) -> float:
        # Model.reset() keeps the audio and feature buffers; empty them as a new Model would.
        model.reset()
        features.raw_data_buffer.clear()
        features.melspectrogram_buffer = np.ones((76, 32))
        features.accumulated_samples = 0
        features.feature_buffer = fresh_features.copy()
        frames = model.predict_clip(clip, padding=1)
        return max(max(frame.values()) for frame in frames)

    return score


def sweep_rows(positives: Scored, negatives: list[Scored]) -> Iterable[tuple[str, ...]]:
    """One row per threshold: false rejects, false accepts per negative set and per hour."""
    hours = sum(s.audio_s for s in negatives) / SECONDS_PER_HOUR
    for threshold in THRESHOLDS:
        rejects = int((positives.scores < threshold).sum())
        accepts = [int((s.scores >= threshold).sum()) for s in negatives]
        yield (
            f"{threshold:.2f}",
            f"{rejects}/{positives.scores.size}",
            f"{100 * rejects / positives.scores.size:.1f}",
            *(f"{a}/{s.scores.size}" for a, s in zip(accepts, negatives, strict=True)),
            f"{sum(accepts) / hours:.1f}",
        )


def pick_threshold(positives: Scored, negatives: list[Scored]) -> float:
    """The rule: the lowest swept threshold with no false accept on any negative set."""
    worst_negative = max(float(s.scores.max()) for s in negatives)
    return min(t for t in THRESHOLDS if t > worst_negative)


def print_table(title: str, header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """A plain Markdown table."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def wake_word(data: Path, with_reference: bool) -> None:
    """Score the three sets, sweep thresholds, compare with the baselines."""
    sets = {
        "alexa": sorted((data / "wakeword" / "alexa").glob("*.flac")),
        "computer": sorted((data / "wakeword" / "computer").glob("*.wav")),
        "librispeech": sorted((data / "speakers" / "librispeech-test-other").glob("*/*.flac")),
    }
    clips = {name: [load_pcm16(p) for p in paths] for name, paths in sets.items()}
    model = WakeWordModel()
    ours = {
        n: score_set(n, c, lambda x: verify_wake_word(x, model, 1.0).score)
        for n, c in clips.items()
    }
    negatives = [ours["computer"], ours["librispeech"]]
    hours = sum(s.audio_s for s in negatives) / SECONDS_PER_HOUR
    print_table(
        "Data",
        ("set", "clips", "audio (s)", "audio (h)"),
        [
            (s.name, str(s.scores.size), f"{s.audio_s:.1f}", f"{s.audio_s / SECONDS_PER_HOUR:.3f}")
            for s in ours.values()
        ],
    )
    print_table(
        f"Threshold sweep (negative audio {hours:.3f} h)",
        (
            "threshold",
            "false rejects (alexa)",
            "FRR %",
            "FA computer",
            "FA librispeech",
            "FA per hour",
        ),
        sweep_rows(ours["alexa"], negatives),
    )
    print_table(
        "Baseline: accept every clip",
        ("false rejects", "FA computer", "FA librispeech", "FA per hour"),
        [
            (
                "0/200",
                f"{ours['computer'].scores.size}/{ours['computer'].scores.size}",
                f"{ours['librispeech'].scores.size}/{ours['librispeech'].scores.size}",
                f"{sum(s.scores.size for s in negatives) / hours:.1f}",
            )
        ],
    )
    best = {n: f"{s.scores.max():.4f}" for n, s in ours.items()}
    print(f"\nhighest score per set: {best}; lowest alexa score: {ours['alexa'].scores.min():.4f}")
    picked = pick_threshold(ours["alexa"], negatives)
    print(
        f"rule (lowest swept threshold with 0 false accepts): {picked}; "
        f"DEFAULT_WAKE_THRESHOLD = {DEFAULT_WAKE_THRESHOLD}"
    )
    rows = [("overheard verify_wake_word", *speed(ours.values()))]
    if with_reference:
        reference = reference_scorer()
        theirs = {n: score_set(n, c, reference) for n, c in clips.items()}
        rows.append(("openWakeWord Model.predict_clip", *speed(theirs.values())))
        print_agreement(ours, theirs)
    print_table(
        "Wake-word speed (one thread, unpadded clip audio)", ("scorer", *SPEED_HEADER), rows
    )


def speed(sets: Iterable[Scored]) -> tuple[str, ...]:
    """Audio seconds, then wall and CPU seconds and their real-time factors, over several sets."""
    sets = list(sets)
    audio_s = sum(s.audio_s for s in sets)
    wall_s, cpu_s = sum(s.wall_s for s in sets), sum(s.cpu_s for s in sets)
    return (
        f"{audio_s:.1f}",
        f"{wall_s:.2f}",
        f"{wall_s / audio_s:.4f}",
        f"{cpu_s:.2f}",
        f"{cpu_s / audio_s:.4f}",
    )


def print_agreement(ours: dict[str, Scored], theirs: dict[str, Scored]) -> None:
    """How far our scores are from the reference implementation's, per set."""
    rows = []
    for name, mine in ours.items():
        diff = np.abs(mine.scores - theirs[name].scores)
        threshold = DEFAULT_WAKE_THRESHOLD
        same = (mine.scores >= threshold) == (theirs[name].scores >= threshold)
        rows.append(
            (name, f"{np.median(diff):.4f}", f"{diff.max():.4f}", f"{same.sum()}/{same.size}")
        )
    print_table(
        "Agreement with the openWakeWord reference",
        (
            "set",
            "median abs score diff",
            "max abs score diff",
            f"same decision at {DEFAULT_WAKE_THRESHOLD}",
        ),
        rows,
    )


def energy_speech_fraction(pcm: np.ndarray) -> float:
    """Baseline VAD: fraction of 32 ms frames whose RMS exceeds ``ENERGY_VAD_DBFS``."""
    frames = pcm[: pcm.size - pcm.size % VAD_FRAME_SAMPLES].reshape(-1, VAD_FRAME_SAMPLES)
    rms = np.sqrt(((frames.astype(np.float64) / 32768.0) ** 2).mean(axis=1))
    return float((20 * np.log10(np.maximum(rms, 1e-10)) > ENERGY_VAD_DBFS).mean())


def speech_frames(model: SileroVad, pcm: np.ndarray) -> float:
    """How many 32 ms frames of a clip Silero calls speech."""
    return float((model.probabilities(pcm) >= VAD_THRESHOLD).sum())


def synthetic_sets() -> dict[str, list[np.ndarray]]:
    """Non-speech references: digital silence, white and brown noise, a DC offset."""
    rng = np.random.default_rng(NOISE_SEED)
    n = NOISE_SECONDS * SAMPLE_RATE_HZ
    brown = np.cumsum(rng.normal(size=n))
    brown -= np.convolve(brown, np.ones(BROWN_HIGHPASS_SAMPLES) / BROWN_HIGHPASS_SAMPLES, "same")
    brown *= 10 ** (BROWN_DBFS / 20) * 32768 / np.sqrt(np.mean(brown**2))
    return {
        "silence (zeros)": [np.zeros(n, np.int16)],
        "white noise -40 dBFS": [(rng.normal(size=n) * 0.01 * 32768).astype(np.int16)],
        "white noise -20 dBFS": [(rng.normal(size=n) * 0.1 * 32768).astype(np.int16)],
        f"brown noise {BROWN_DBFS:.0f} dBFS": [np.clip(brown, -32768, 32767).astype(np.int16)],
        "DC offset +0.25": [np.full(n, 8192, np.int16)],
    }


def vad(data: Path) -> None:
    """Speech-frame fractions of Silero and of the energy baseline on speech and on non-speech."""
    speech = data / "speakers" / "librispeech-test-other"
    sets = {
        "librispeech": [load_pcm16(p) for p in sorted(speech.glob("*/*.flac"))],
        "alexa clips": [
            load_pcm16(p) for p in sorted((data / "wakeword" / "alexa").glob("*.flac"))
        ],
        **synthetic_sets(),
    }
    model = SileroVad()
    rows, timed = [], []
    for name, clips in sets.items():
        timed.append(score_set(name, clips, lambda c: speech_frames(model, c)))
        n_frames = sum(-(-c.size // VAD_FRAME_SAMPLES) for c in clips)
        kept = sum(trim_silence(c, speech_segments(c, model)).size for c in clips)
        total = sum(c.size for c in clips)
        energy = np.mean([energy_speech_fraction(c) for c in clips])
        rows.append(
            (
                name,
                f"{total / SAMPLE_RATE_HZ:.1f}",
                f"{timed[-1].scores.sum() / n_frames:.3f}",
                f"{kept / total:.3f}",
                f"{energy:.3f}",
            )
        )
    print_table(
        "VAD: fraction of 32 ms frames called speech",
        (
            "audio",
            "seconds",
            f"silero p>={VAD_THRESHOLD}",
            "kept by trim_silence",
            f"energy baseline (> {ENERGY_VAD_DBFS:.0f} dBFS)",
        ),
        rows,
    )
    print_table(
        "VAD speed (one thread)",
        ("scorer", *SPEED_HEADER),
        [("SileroVad.probabilities", *speed(timed))],
    )


def main() -> None:
    """Parse arguments, run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the openWakeWord reference implementation (slow)",
    )
    args = parser.parse_args()
    wake_word(args.data, with_reference=not args.no_reference)
    vad(args.data)


if __name__ == "__main__":
    main()
