"""The external held-out set: requests of new wording, shipped with the project, spoken at evaluation time.

Nobody said them to the platform and nothing was trained or tuned on them, so a model's WER on them
measures how it does on wording it has never seen, beside the internal held-out split (which holds
households' own phrasings). They are synthesised with espeak-ng voices the tuning sets do not use.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

HELDOUT_FILE = "external_heldout_requests.txt"
HELDOUT_VOICES = ("en-gb-scotland", "en-us-nyc", "en+f2")
"""espeak-ng voices used for no tuning set."""
NOISE_FLOOR = 0.002
"""About -54 dBFS of white noise: synthetic speech has digital silence no microphone produces."""
PAD_SAMPLES = 3200
"""0.2 s of (noisy) silence either side, 16 kHz."""
SEED = 15


def external_requests() -> list[str]:
    """The shipped requests, in file order (comments and blank lines skipped)."""
    text = resources.files("overheard").joinpath("data", HELDOUT_FILE).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class SpokenRequest:
    """One external request in one voice, as 16 kHz int16 PCM."""

    text: str
    voice: str
    pcm: np.ndarray


def espeak_available() -> bool:
    """Whether espeak-ng is installed (the external set needs it)."""
    return shutil.which("espeak-ng") is not None


def spoken_external(
    voices: Sequence[str] = HELDOUT_VOICES, *, seed: int = SEED
) -> list[SpokenRequest]:
    """Every external request in every voice, padded and with a noise floor drawn per clip (so
    editing one line leaves every other clip as it was)."""
    from ..demo import synthesise

    out = []
    for text in external_requests():
        for voice in voices:
            rng = np.random.default_rng(
                [seed, *hashlib.sha256(f"{text}|{voice}".encode()).digest()[:8]]
            )
            pcm = synthesise(text, voice).astype(np.float64) / 32768.0
            pad = np.zeros(PAD_SAMPLES)
            audio = np.concatenate([pad, pcm, pad])
            audio += rng.normal(0.0, NOISE_FLOOR, audio.shape)
            out.append(
                SpokenRequest(text, voice, (audio * 32767).clip(-32768, 32767).astype(np.int16))
            )
    return out
