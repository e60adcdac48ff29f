"""Voice disguise, the default method on real speech: the disguised voice is the target voice's."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from overheard.protect import _voices, _world
from overheard.protect.disguise import SAMPLE_RATE_HZ, disguise
from tests.protect._disguise_speech import KNN, librivox

TARGET_PIECES = 12
TARGET_PIECE_S = 15
"""The target voice's long-term spectrum is measured on 12 pieces of 15 s spread evenly over its
23 min: 0.18 from the whole voice's (Euclidean, over the 24 bands) for 1/16 of its CPU (2.6 s
against 43 s), where the first 3 min were 0.60 from it."""


def _ltas(*pieces: np.ndarray) -> np.ndarray:
    """Long-term average log spectrum of the voiced frames of ``pieces`` (int16 PCM) in 24
    mel-spaced bands, level removed."""
    voiced = []
    for pcm in pieces:
        f0, envelope = _world.f0_and_envelope(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ)
        voiced.append(envelope[f0 > 0])
    log_env = np.log(np.concatenate(voiced) + 1e-12).mean(axis=0)
    freqs = np.linspace(0.0, SAMPLE_RATE_HZ / 2, len(log_env))
    mel = 2595 * np.log10(1 + freqs / 700)
    edges = np.linspace(mel[1], mel[-1], 25)
    bands = np.array([log_env[(mel >= a) & (mel < b)].mean() for a, b in pairwise(edges)])
    return bands - bands.mean()


@pytest.mark.data
def test_knn_disguised_voice_is_the_targets_not_the_speakers(shared_data: Path) -> None:
    """By long-term spectrum, every disguised clip is nearer the target voice than its speaker."""
    speech = (_voices.read_speech("joe") * 32767).astype(np.int16)
    piece = TARGET_PIECE_S * SAMPLE_RATE_HZ
    starts = np.linspace(0, len(speech) - piece, TARGET_PIECES).astype(int)
    target = _ltas(*(speech[start : start + piece] for start in starts))
    for pcm, _ in librivox(shared_data)[:3]:
        out = _ltas(disguise(pcm, KNN))
        source = _ltas(pcm)
        assert np.linalg.norm(out - target) < 0.5 * np.linalg.norm(out - source)
