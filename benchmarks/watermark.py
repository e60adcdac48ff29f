"""Leak-tracing watermark: robustness, false traces, loudness and speed on real speech.

    python benchmarks/watermark.py [--trials 120] [--unmarked 1000] [--data ../shared/data]

Marks real utterances (3–23 s) with random 32-bit payloads, applies each transform, and counts
correct traces, wrong traces and misses. The untransformed row is the baseline of the same run.
False traces are counted on unmarked clips (originals, excerpts and gains of every clip in the data
set, and clips marked under another key).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt, stft

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from overheard.protect.watermark import (
    SAMPLE_RATE_HZ,
    Trace,
    detect,
    embed,
    mark_to_signal_db,
)

Pcm = NDArray[np.int16]
KEY = b"benchmark server secret, 32 byte"
OTHER_KEY = b"another deployment's secret key!"
MIN_MARKED_S = 3.0
EXCERPT_S = 3.0
NOISE_SNR_DB = 20.0
MIC_SNR_DB = 15.0
MIC_RT60_S = 0.3


def _saturate(x: NDArray[np.float64]) -> Pcm:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def ffmpeg_round_trip(pcm: Pcm, codec_args: list[str], suffix: str) -> Pcm:
    """Encode with ffmpeg, decode back to 16 kHz mono int16."""
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = Path(tmp, "a.wav"), Path(tmp, f"b.{suffix}"), Path(tmp, "c.wav")
        sf.write(src, pcm, SAMPLE_RATE_HZ, subtype="PCM_16")
        run = ["ffmpeg", "-v", "error", "-y", "-i"]
        subprocess.run([*run, str(src), *codec_args, str(enc)], check=True)
        subprocess.run(
            [*run, str(enc), "-ar", str(SAMPLE_RATE_HZ), "-ac", "1", str(dec)], check=True
        )
        out, _ = sf.read(dec, dtype="int16")
    return np.asarray(out)


def mp3(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """MP3 at 64 kbit/s and back."""
    return ffmpeg_round_trip(pcm, ["-c:a", "libmp3lame", "-b:a", "64k"], "mp3")


def opus(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """Opus at 32 kbit/s and back."""
    return ffmpeg_round_trip(pcm, ["-c:a", "libopus", "-b:a", "32k"], "opus")


def resample_8k(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    return _saturate(resample_poly(resample_poly(pcm.astype(np.float64), 1, 2), 2, 1))


def gain_up(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    return _saturate(pcm * 10 ** (6 / 20))


def gain_down(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    return _saturate(pcm * 10 ** (-6 / 20))


def excerpt(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    n = int(EXCERPT_S * SAMPLE_RATE_HZ)
    start = int(rng.integers(0, max(1, len(pcm) - n + 1)))
    return pcm[start : start + n]


def _with_noise(pcm: Pcm, rng: np.random.Generator, snr_db: float) -> NDArray[np.float64]:
    x = pcm.astype(np.float64)
    power = float(np.mean(x**2)) / 10 ** (snr_db / 10)
    return x + rng.standard_normal(len(x)) * np.sqrt(power)


def noise(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    return _saturate(_with_noise(pcm, rng, NOISE_SNR_DB))


def speaker_to_mic(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """Small loudspeaker + room + phone mic: 200–5000 Hz, exponential-decay reverb, noise."""
    x = sosfiltfilt(butter(2, (200, 5000), "bandpass", fs=SAMPLE_RATE_HZ, output="sos"), pcm)
    t = np.arange(int(MIC_RT60_S * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / MIC_RT60_S)
    rir[0] = 8.0  # direct path
    wet = fftconvolve(x, rir)[: len(x)]
    wet *= np.sqrt(np.mean(x**2) / max(np.mean(wet**2), 1e-9))
    delay = int(rng.integers(0, 400))
    shifted = np.concatenate([np.zeros(delay), wet])[: len(x)]
    return _saturate(_with_noise(_saturate(shifted), rng, MIC_SNR_DB))


def chain(*steps: Callable[[Pcm, np.random.Generator], Pcm]) -> Callable[..., Pcm]:
    def run(pcm: Pcm, rng: np.random.Generator) -> Pcm:
        for step in steps:
            pcm = step(pcm, rng)
        return pcm

    return run


TRANSFORMS: dict[str, Callable[[Pcm, np.random.Generator], Pcm]] = {
    "none (baseline)": lambda pcm, rng: pcm,
    "mp3 64 kbit/s": mp3,
    "opus 32 kbit/s": opus,
    "resample 8 kHz": resample_8k,
    "gain +6 dB": gain_up,
    "gain -6 dB": gain_down,
    "3 s excerpt": excerpt,
    "white noise 20 dB": noise,
    "mp3 + 3 s excerpt": chain(mp3, excerpt),
    "opus + noise 20 dB": chain(opus, noise),
    "8 kHz + gain -6 dB": chain(resample_8k, gain_down),
    "3 s excerpt + opus": chain(excerpt, opus),
    "speaker→mic (sim.)": speaker_to_mic,
}


def load(data: Path) -> tuple[list[Pcm], list[Pcm]]:
    """(read speech long enough to mark, every clip of the data set)."""
    globs = [
        "speakers/librispeech-test-other/*/*.flac",
        "asr/librivox/*.wav",
        "asr/cards/*.wav",
        "wakeword/alexa/*.flac",
        "wakeword/computer/*.wav",
    ]
    clips: list[Pcm] = []
    speech = 0
    for pattern in globs:
        for path in sorted(data.glob(pattern)):
            try:
                pcm, rate = sf.read(path, dtype="int16", always_2d=True)
            except sf.LibsndfileError:
                continue  # a few crowd-sourced FLACs are truncated
            pcm = pcm[:, 0]
            if rate != SAMPLE_RATE_HZ:
                pcm = _saturate(resample_poly(pcm.astype(np.float64), SAMPLE_RATE_HZ, rate))
            clips.append(np.ascontiguousarray(pcm))
        if pattern.startswith(("speakers", "asr")):
            speech = len(clips)
    marked = [c for c in clips[:speech] if len(c) >= MIN_MARKED_S * SAMPLE_RATE_HZ]
    return marked, clips


def masking_margin_db(original: Pcm, marked: Pcm) -> tuple[float, float]:
    """Mark-to-speech ratio per 32 ms frame and 1/3-octave band (300–3400 Hz) in active frames.

    Returns (median, 95th percentile) in dB: how far the mark stays under the speech's own
    short-time spectrum where it is placed.
    """
    _, _, s = stft(original.astype(np.float64), SAMPLE_RATE_HZ, nperseg=512)
    _, _, m = stft(marked.astype(np.float64) - original, SAMPLE_RATE_HZ, nperseg=512)
    freqs = np.fft.rfftfreq(512, 1 / SAMPLE_RATE_HZ)
    edges = 300 * 2 ** (np.arange(0, 11) / 3)
    ps, pm = np.abs(s) ** 2, np.abs(m) ** 2
    frame_power = ps.sum(axis=0)
    active = frame_power > 10 ** (-3) * frame_power.max()
    ratios = []
    for lo, hi in itertools.pairwise(edges):
        band = (freqs >= lo) & (freqs < min(hi, 3400))
        if band.any():
            num = pm[band][:, active].sum(axis=0) + 1e-9
            den = ps[band][:, active].sum(axis=0) + 1e-9
            ratios.append(10 * np.log10(num / den))
    flat = np.concatenate(ratios)
    return float(np.median(flat)), float(np.percentile(flat, 95))


def robustness(marked: list[Pcm], trials: int, rng: np.random.Generator) -> None:
    """Print the per-transform table and loudness/speed figures."""
    payloads = rng.integers(0, 2**32, size=trials, dtype=np.uint64)
    sources = [marked[i % len(marked)] for i in range(trials)]
    embed_s, audio_s, msr, margins = 0.0, 0.0, [], []
    marked_clips = []
    for pcm, payload in zip(sources, payloads, strict=True):
        t0 = time.perf_counter()
        out = embed(pcm, int(payload), KEY)
        embed_s += time.perf_counter() - t0
        audio_s += len(pcm) / SAMPLE_RATE_HZ
        msr.append(mark_to_signal_db(pcm, out))
        margins.append(masking_margin_db(pcm, out))
        marked_clips.append(out)
    print(f"{'transform':<22} {'correct':>9} {'wrong':>6} {'missed':>7} {'rate':>7}")
    detect_s, detect_audio_s = 0.0, 0.0
    for name, transform in TRANSFORMS.items():
        correct = wrong = 0
        for out, payload in zip(marked_clips, payloads, strict=True):
            attacked = transform(out, rng)
            t0 = time.perf_counter()
            trace: Trace = detect(attacked, KEY)
            detect_s += time.perf_counter() - t0
            detect_audio_s += len(attacked) / SAMPLE_RATE_HZ
            correct += trace.payload == int(payload)
            wrong += trace.payload is not None and trace.payload != int(payload)
        missed = trials - correct - wrong
        print(
            f"{name:<22} {correct:>4}/{trials:<4} {wrong:>6} {missed:>7} {correct / trials:>7.1%}"
        )
    ms = np.array(msr)
    med = np.median([m[0] for m in margins])
    p95 = np.median([m[1] for m in margins])
    print(
        f"\nmark-to-signal (dB, whole clip): median {np.median(ms):.1f}, "
        f"best {ms.min():.1f}, worst {ms.max():.1f}"
    )
    print(
        f"mark-to-speech per frame × 1/3-octave band (dB, speech frames): "
        f"median {med:.1f}, 95th percentile {p95:.1f} (medians over clips)"
    )
    print(
        f"embed real-time factor {embed_s / audio_s:.4f}; "
        f"detect real-time factor {detect_s / detect_audio_s:.4f}"
    )


def unmarked_set(
    clips: list[Pcm], marked: list[Pcm], count: int, rng: np.random.Generator
) -> list[Pcm]:
    """Originals, then excerpts/gains of them, then clips marked under another key."""
    other_key = min(100, count // 10)
    pool = list(clips)
    while len(pool) < count - other_key:
        clip = clips[int(rng.integers(0, len(clips)))]
        n = int(rng.integers(SAMPLE_RATE_HZ, max(SAMPLE_RATE_HZ + 1, len(clip))))
        start = int(rng.integers(0, len(clip) - n + 1)) if len(clip) > n else 0
        gain = 10 ** (float(rng.uniform(-6, 6)) / 20)
        pool.append(_saturate(clip[start : start + n] * gain))
    for i in range(other_key):
        pool.append(embed(marked[i % len(marked)], int(rng.integers(0, 2**32)), OTHER_KEY))
    return pool[:count]


def false_traces(clips: list[Pcm], marked: list[Pcm], count: int, rng: np.random.Generator) -> None:
    """Print how many unmarked clips yield a payload."""
    pool = unmarked_set(clips, marked, count, rng)
    traces = [detect(clip, KEY) for clip in pool]
    false = sum(t.payload is not None for t in traces)
    scores = np.array([t.score for t in traces])
    hours = sum(len(c) for c in pool) / SAMPLE_RATE_HZ / 3600
    print(
        f"\nfalse traces on unmarked clips: {false}/{len(pool)} ({hours:.2f} h of audio); "
        f"analytic bound per clip {traces[0].false_positive_bound:.2e}; "
        f"sync score median {np.median(scores):.1f}, max {scores.max():.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120, help="marked clips per transform")
    parser.add_argument("--unmarked", type=int, default=1000, help="unmarked clips")
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    marked, clips = load(args.data)
    print(f"{len(marked)} clips of >= {MIN_MARKED_S:.0f} s to mark, {len(clips)} clips in all\n")
    started = time.perf_counter()
    robustness(marked, args.trials, rng)
    false_traces(clips, marked, args.unmarked, rng)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
