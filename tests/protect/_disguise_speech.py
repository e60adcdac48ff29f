"""Speech for the disguise tests: a synthetic vowel, its median pitch, the librivox clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from overheard.protect import _world
from overheard.protect.disguise import SAMPLE_RATE_HZ, KnnParams

KNN = KnnParams(voice="joe", k=4, f0_contour_scale=0.9, f0_shift_semitones=0.5)
"""The ``"knnvc"`` parameters the default-method tests convert with."""


def make_voice(f0_hz: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A vowel-like voiced signal: harmonics of ``f0_hz`` shaped by two formants, int16."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * 4 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz * wobble) / SAMPLE_RATE_HZ
    x = np.zeros_like(t)
    for k in range(1, int(4000 / f0_hz)):
        freq = k * f0_hz
        gain = np.exp(-(((freq - 700) / 200) ** 2)) + 0.5 * np.exp(-(((freq - 1200) / 250) ** 2))
        x += (gain + 0.02) * np.sin(k * phase) / k**0.5
    x += 0.001 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * 32767 * x / np.abs(x).max()).astype(np.int16)


def median_f0(pcm: np.ndarray) -> float:
    """Median WORLD F0 of the voiced frames of ``pcm``, hertz."""
    f0 = _world.analyse(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ).f0_hz
    return float(np.median(f0[f0 > 0]))


def librivox(shared_data: Path) -> list[tuple[np.ndarray, list[str]]]:
    """The five librivox clips of the evaluation data (int16 PCM) and their reference words."""
    folder = shared_data / "asr" / "librivox"
    clips = []
    for line in (folder / "transcription").read_text().splitlines():
        words = line.split("</s>")[0].replace("<s>", "").split()
        pcm, rate = sf.read(folder / f"{line.rsplit('(', 1)[1].rstrip(')')}.wav", dtype="int16")
        assert rate == SAMPLE_RATE_HZ
        clips.append((pcm, words))
    return clips


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Word-level edit distance of ``hyp`` from ``ref``."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]
