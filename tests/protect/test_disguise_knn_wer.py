"""Voice disguise, the default method on real speech: whisper still recognises it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from overheard.protect.disguise import disguise, draw
from tests.protect._disguise_speech import librivox, word_errors

MAX_WER_INCREASE_KNN = 0.40
"""Allowed rise in whisper (tiny.en, the default recogniser) word error rate, ``"knnvc"``, one draw.

Development measured +0.24 … +0.32 on these clips with the 271 s pool, +0.14 … +0.16 with the
23-min pool of version 3; the goal is +0.05 (see the model card)."""


@pytest.mark.data
def test_knn_disguised_speech_stays_recognisable_by_whisper(shared_data: Path) -> None:
    from overheard.speech.asr import asr_from_spec

    asr = asr_from_spec("whisper")
    clips = librivox(shared_data)
    rng = np.random.default_rng(3)
    n_words = sum(len(ref) for _, ref in clips)

    def errors(pcm: np.ndarray, ref: list[str]) -> int:
        return word_errors(ref, asr.transcribe(pcm).text.split())

    original = sum(errors(pcm, ref) for pcm, ref in clips) / n_words
    disguised = sum(errors(disguise(pcm, draw(rng)), ref) for pcm, ref in clips) / n_words
    assert original < 0.15
    assert disguised <= original + MAX_WER_INCREASE_KNN
