"""Target voices for the nearest-neighbour disguise: synthetic speech shipped with the package.

Each voice is an Ogg Opus file of text-to-speech output (made offline by
``scripts/make_disguise_voice.py``; see ``protect/data/README.md`` for its source and licence). No
recording of a real person is shipped. A voice is analysed (WORLD and Whisper features) on its
first use in a process and kept in memory; that costs minutes once per worker (WORLD's analysis is
9/10 of it, about 0.5 s of compute per second of the voice's speech), never on a request.
"""

from __future__ import annotations

import threading
from importlib import resources
from itertools import pairwise

import numpy as np
import soundfile as sf

from . import _content, _knnvc, _world

SAMPLE_RATE_HZ = 16000
VOICE_FILES = {"joe": "disguise_voice_joe.ogg"}
"""Target voices by name: the file under ``protect/data`` holding its speech (16 kHz mono, any
format libsndfile reads; the shipped one is Ogg Opus)."""
WINDOW_MEL_FRAMES = 400
"""Mel frames (10 ms) per Whisper encoder window for disguise features: 4 s, 200 output frames."""
CHUNK_S = 30.0
"""A voice's speech is WORLD-analysed in pieces of about this length, seconds: its full-resolution
envelope and aperiodicity of 23 min at once would hold ≈ 2.3 GB."""
QUIET_S = 0.075
"""A piece ends where this much silence lies on either side (inside a gap between sentences), so
that no analysis window straddles the cut; seconds."""
QUIET_LEVEL = 1e-3
"""Samples below this magnitude (−60 dBFS) count as silence for the cuts: the lossy codec the
voice is stored with leaves a faint residue in the gaps between sentences, not digital zeros."""
_ALIGN = 320
"""Cuts fall on multiples of one content frame (20 ms), which is 4 WORLD frames."""

_loaded: dict[tuple[str, str], _knnvc.TargetVoice] = {}
"""Pools built in this process, by voice name and content encoder."""
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


def features(x: np.ndarray, encoder: str = "tiny.en") -> np.ndarray:
    """Raw content features of float 16 kHz ``x`` as the disguise uses them (frames × dims)."""
    return _content.whisper_features(x, WINDOW_MEL_FRAMES, encoder)


def cuts(x: np.ndarray) -> list[int]:
    """Sample indices splitting ``x`` into pieces of about ``CHUNK_S``, at silences where possible."""
    quiet = int(QUIET_S * SAMPLE_RATE_HZ)
    loud = np.concatenate([[0], np.cumsum(np.abs(x) >= QUIET_LEVEL)])
    aligned = np.arange(quiet + _ALIGN - quiet % _ALIGN, len(x) - quiet, _ALIGN)
    silent = aligned[loud[aligned + quiet] == loud[aligned - quiet]]
    step, out = int(CHUNK_S * SAMPLE_RATE_HZ), [0]
    while len(x) - out[-1] > 1.5 * step:
        want = out[-1] + step
        later = silent[(silent >= want) & (silent < want + step // 2)]
        out.append(int(later[0]) if len(later) else want - want % _ALIGN)
    return [*out, len(x)]


def analyse_coded(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD F0 and coded envelope/aperiodicity of ``x``, analysed piece by piece (bounded memory)."""
    f0s, envs, aps = [], [], []
    bounds = cuts(x)
    for i, (start, end) in enumerate(pairwise(bounds)):
        analysis = _world.analyse(x[start:end], SAMPLE_RATE_HZ)
        env, ap = _knnvc.code(analysis, SAMPLE_RATE_HZ)
        # WORLD puts a frame at both ends; a piece's last frame is the next piece's first.
        keep = len(env) if i == len(bounds) - 2 else (end - start) // _knnvc.FRAME_SAMPLES
        f0s.append(analysis.f0_hz[:keep])
        envs.append(env[:keep])
        aps.append(ap[:keep])
    return np.concatenate(f0s), np.concatenate(envs), np.concatenate(aps)


def voice_from(name: str, x: np.ndarray, encoder: str = "tiny.en") -> _knnvc.TargetVoice:
    """A target voice pool built from float 16 kHz speech ``x``, matched by ``encoder``'s features."""
    f0, env, ap = analyse_coded(x)
    window = WINDOW_MEL_FRAMES // _content.ENCODER_STRIDE
    return _knnvc.build_coded_voice(name, f0, env, ap, features(x, encoder), window)


def load(name: str, encoder: str = "tiny.en") -> _knnvc.TargetVoice:
    """The named target voice with ``encoder``'s content features, built on first use in this
    process; another encoder's pool of the same voice, if loaded, lends it its WORLD frames."""
    if name not in VOICE_FILES:
        raise KeyError(f"unknown disguise voice {name!r}; shipped: {', '.join(names())}")
    with _lock:
        voice = _loaded.get((name, encoder))
        if voice is None:
            other = next((v for (n, _), v in _loaded.items() if n == name), None)
            if other is None:
                voice = voice_from(name, read_speech(name), encoder)
            else:
                window = WINDOW_MEL_FRAMES // _content.ENCODER_STRIDE
                voice = _knnvc.with_features(other, features(read_speech(name), encoder), window)
            _loaded[name, encoder] = voice
        return voice
