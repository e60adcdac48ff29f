"""The shared data's "alexa" recordings cut to their speech: the wake word alone, to put before a
request (benchmarks/wake_position.py, endpoint.py, asr_heard.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from overheard.speech.audio import read_audio_file
from overheard.speech.vad import SileroVad, speech_segments
from overheard.speech.wake import SAMPLE_RATE_HZ

WORD_MARGIN_S = 0.05
"""Kept around a recording's speech when it is cut out."""


def alexa_words(data: Path, vad: SileroVad, parity: int = 0) -> list[np.ndarray]:
    """The alexa recordings of one ``parity`` in name order (0: the held-out half, 1: the tuning
    half), each cut to its speech with :data:`WORD_MARGIN_S` either side; a file that does not
    decode, or holds no speech, is left out."""
    out = []
    for path in sorted((data / "wakeword" / "alexa").glob("*.flac"))[parity::2]:
        try:
            pcm = read_audio_file(path).pcm
        except Exception:
            continue
        segments = speech_segments(pcm, vad)
        if segments:
            start = max(0, round((segments[0].start_s - WORD_MARGIN_S) * SAMPLE_RATE_HZ))
            end = round((segments[-1].end_s + WORD_MARGIN_S) * SAMPLE_RATE_HZ)
            out.append(pcm[start:end])
    return out
