"""What a leaked clip goes through: a phone line, codecs, speed, noise, an excerpt (sox, ffmpeg)."""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

RATE_HZ = 16000
NOISE_SNR_DB = 20.0
EXCERPT_S = 1.5

Pcm = NDArray[np.int16]
Transform = Callable[[Pcm, np.random.Generator], Pcm]


def _wav(pcm: Pcm) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, pcm, RATE_HZ, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def sox(pcm: Pcm, *effects: str) -> Pcm:
    """Run sox effects on the clip and read it back at 16 kHz."""
    command = ["sox", "-t", "wav", "-", "-t", "wav", "-", *effects, "rate", str(RATE_HZ)]
    done = subprocess.run(command, input=_wav(pcm), capture_output=True, check=True)
    return np.asarray(sf.read(io.BytesIO(done.stdout), dtype="int16")[0])


def ffmpeg(pcm: Pcm, codec: list[str], suffix: str) -> Pcm:
    """Encode with ffmpeg, decode back to 16 kHz mono int16."""
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = Path(tmp, "a.wav"), Path(tmp, f"b.{suffix}"), Path(tmp, "c.wav")
        src.write_bytes(_wav(pcm))
        run = ["ffmpeg", "-v", "error", "-y", "-i"]
        subprocess.run([*run, str(src), *codec, str(enc)], check=True)
        subprocess.run([*run, str(enc), "-ar", str(RATE_HZ), "-ac", "1", str(dec)], check=True)
        return np.asarray(sf.read(dec, dtype="int16")[0])


def noise(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """White noise at 20 dB under the clip's power."""
    x = pcm.astype(np.float64)
    power = float(np.mean(x**2)) / 10 ** (NOISE_SNR_DB / 10)
    y = x + rng.standard_normal(len(x)) * np.sqrt(power)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def excerpt(pcm: Pcm, rng: np.random.Generator) -> Pcm:
    """A random 1.5 s stretch of the clip."""
    n = int(EXCERPT_S * RATE_HZ)
    start = int(rng.integers(0, max(1, len(pcm) - n + 1)))
    return pcm[start : start + n]


def _mp3(kbps: int) -> Transform:
    return lambda pcm, rng: ffmpeg(pcm, ["-c:a", "libmp3lame", "-b:a", f"{kbps}k"], "mp3")


def _opus(kbps: int) -> Transform:
    return lambda pcm, rng: ffmpeg(pcm, ["-c:a", "libopus", "-b:a", f"{kbps}k"], "opus")


TRANSFORMS: dict[str, Transform] = {
    "none": lambda pcm, rng: pcm,
    "telephone 300-3400 Hz": lambda pcm, rng: sox(pcm, "sinc", "300-3400"),
    "8 kHz": lambda pcm, rng: sox(pcm, "rate", "8000"),
    "mp3 32 kbit/s": _mp3(32),
    "mp3 64 kbit/s": _mp3(64),
    "opus 16 kbit/s": _opus(16),
    "opus 32 kbit/s": _opus(32),
    "speed +2 %": lambda pcm, rng: sox(pcm, "speed", "1.02"),
    "speed -2 %": lambda pcm, rng: sox(pcm, "speed", "0.98"),
    "noise 20 dB": noise,
    "1.5 s excerpt": excerpt,
}
"""The goal's transforms, each applied alone."""
