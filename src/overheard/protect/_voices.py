"""Target voices for the nearest-neighbour disguise: synthetic speech shipped with the package.

Each voice is a FLAC of text-to-speech output (made offline by ``scripts/make_disguise_voice.py``;
see ``protect/data/DISGUISE-VOICES.md`` for its source and licence). No recording of a real
person is shipped. A voice is analysed (WORLD and Whisper features) on its first use in a process
and kept in memory; that costs tens of seconds once per worker, never on a request.
"""

from __future__ import annotations

import threading
from importlib import resources

import numpy as np
import soundfile as sf

from . import _content, _knnvc, _world

SAMPLE_RATE_HZ = 16000
VOICE_FILES = {"joe": "disguise_voice_joe.flac"}
"""Target voices by name: the FLAC under ``protect/data`` holding its speech (16 kHz mono)."""
WINDOW_MEL_FRAMES = 400
"""Mel frames (10 ms) per Whisper encoder window for disguise features: 4 s, 200 output frames."""

_loaded: dict[str, _knnvc.TargetVoice] = {}
_lock = threading.Lock()


def names() -> tuple[str, ...]:
    """The target voices shipped."""
    return tuple(sorted(VOICE_FILES))


def read_speech(name: str) -> np.ndarray:
    """The voice's shipped speech as float samples (−1 … 1) at 16 kHz."""
    ref = resources.files("overheard.protect") / "data" / VOICE_FILES[name]
    with resources.as_file(ref) as path:
        x, rate = sf.read(path, dtype="float64")
    if rate != SAMPLE_RATE_HZ or x.ndim != 1:
        raise ValueError(f"target voice {name!r} must be 16 kHz mono, got {rate} Hz, {x.shape}")
    return x


def features(x: np.ndarray) -> np.ndarray:
    """Raw content features of float 16 kHz ``x`` as the disguise uses them (frames × dims)."""
    return _content.whisper_features(x, WINDOW_MEL_FRAMES)


def voice_from(name: str, x: np.ndarray) -> _knnvc.TargetVoice:
    """A target voice pool built from float 16 kHz speech ``x``."""
    analysis = _world.analyse(x, SAMPLE_RATE_HZ)
    return _knnvc.build_voice(
        name, analysis, features(x), SAMPLE_RATE_HZ, WINDOW_MEL_FRAMES // _content.ENCODER_STRIDE
    )


def load(name: str) -> _knnvc.TargetVoice:
    """The named target voice, built on first use in this process."""
    if name not in VOICE_FILES:
        raise KeyError(f"unknown disguise voice {name!r}; shipped: {', '.join(names())}")
    with _lock:
        voice = _loaded.get(name)
        if voice is None:
            voice = _loaded[name] = voice_from(name, read_speech(name))
        return voice
