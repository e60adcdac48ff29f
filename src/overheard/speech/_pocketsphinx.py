"""The pocketsphinx 5 backend: one decoder per language model, tried in order, a lock around them.

Confidence is the lattice posterior pocketsphinx gives each word (``seg().prob``, already mapped out of
the log domain); the utterance confidence is their mean over real words (fillers and silences left
out). With a domain model and the generic fallback, both decode every utterance and the domain
transcript is kept only when it is more confident than the generic one by :data:`FALLBACK_MARGIN`: a
small domain model is confidently wrong on speech it does not cover, so it has to win clearly. The rule
and its measured effect are in docs/models/asr.md.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
from pocketsphinx import Decoder

from overheard.errors import ConfigError
from overheard.speech.asr import Transcript, Word, check_pcm, empty_transcript
from overheard.speech.lm import build_language_model

FRAMES_PER_S = 100
WAKE_PREFIXED_EVERY = 2
"""Every this many seed sentences is repeated with the wake word in front (measured: librivox WER
unchanged at 0.282, while the keyword verifier hears the word; all sentences prefixed gave 0.451)."""
WAKE_WORD = "alexa"
"""The wake word of the bundled wake-word model, known to the default domain language model."""
FALLBACK_MARGIN = 0.1
"""The domain decode is kept only when its confidence beats the generic one by more than this."""
MIN_SAMPLES = 1600
"""Anything shorter than 0.1 s is treated as silence."""
DITHER_SEED = 1
"""Seed of the ±1 LSB dither that keeps digital silence finite in log features; drawn afresh for
every utterance, so a clip's transcript never depends on what was decoded before it."""


def _config(**overrides: object) -> dict[str, object]:
    return {"loglevel": "ERROR", "dither": False, **overrides}


def _dithered(pcm: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(DITHER_SEED).integers(-1, 2, pcm.size, dtype=np.int32)
    return np.clip(pcm.astype(np.int32) + noise, -32768, 32767).astype(np.int16)


class PocketsphinxBackend:
    """Pocketsphinx over whole utterances; thread-safe, one decode at a time."""

    def __init__(self, decoders: tuple[tuple[str, Decoder], ...], *, name: str) -> None:
        self.name = name
        self._decoders = decoders
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> PocketsphinxBackend:
        """Domain model from the seed requests, generic en-us fallback (built once per process)."""
        return _default_backend()

    @classmethod
    def generic(cls) -> PocketsphinxBackend:
        """The bundled en-us language model only (built once per process)."""
        return _generic_backend()

    @classmethod
    def from_dir(cls, folder: Path) -> PocketsphinxBackend:
        """A learned model in ``folder`` (ARPA or binary LM + dictionary) with the generic fallback."""
        domain = Decoder(**_config(lm=str(_find_lm(folder)), dict=str(_find_dict(folder))))
        return cls(
            (("domain", domain), ("generic", _generic_decoder())), name=f"pocketsphinx:{folder}"
        )

    @classmethod
    def grammar(cls, path: Path) -> PocketsphinxBackend:
        """A JSGF grammar as the only search."""
        decoder = Decoder(**_config(lm=None, jsgf=str(path)))
        return cls((("grammar", decoder),), name=f"pocketsphinx:{path}")

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        """Recognise int16 mono 16 kHz samples."""
        pcm = check_pcm(pcm)
        if pcm.size < MIN_SAMPLES:
            return empty_transcript(f"pocketsphinx:{self._decoders[0][0]}")
        with self._lock:
            first, *fallbacks = (
                _decode(d, pcm, f"pocketsphinx:{label}") for label, d in self._decoders
            )
        if not fallbacks:
            return first
        fallback = max(fallbacks, key=lambda t: t.confidence)
        return first if first.confidence > fallback.confidence + FALLBACK_MARGIN else fallback


def _decode(decoder: Decoder, pcm: np.ndarray, model: str) -> Transcript:
    decoder.start_utt()
    decoder.process_raw(_dithered(pcm).tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    words = tuple(_words(decoder))
    if not words:
        return empty_transcript(model)
    confidence = float(np.mean([w.confidence for w in words]))
    return Transcript(" ".join(w.text for w in words), words, confidence, model)


def _words(decoder: Decoder) -> Iterable[Word]:
    if decoder.hyp() is None:
        return
    for seg in decoder.seg():
        if _is_filler(seg.word):
            continue
        yield Word(
            text=seg.word.split("(")[0],
            start_s=seg.start_frame / FRAMES_PER_S,
            end_s=(seg.end_frame + 1) / FRAMES_PER_S,
            confidence=min(1.0, max(0.0, float(seg.prob))),
        )


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or word == ""


def _find_lm(folder: Path) -> Path:
    for pattern in ("lm.arpa", "*.lm.bin", "*.arpa", "*.lm"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise ConfigError(f"no language model (lm.arpa or *.lm.bin) in {folder}")


def _find_dict(folder: Path) -> Path:
    found = sorted(folder.glob("*.dict"))
    if not found:
        raise ConfigError(f"no pronunciation dictionary (*.dict) in {folder}")
    return found[0]


def _generic_decoder() -> Decoder:
    return Decoder(**_config())


@cache
def _default_backend() -> PocketsphinxBackend:
    from overheard.speech.seed import seed_requests

    # Half of the sentences again with the wake word in front: the recogniser then hears the
    # word (for the keyword verifier) without out-of-domain speech being pulled towards the domain.
    texts = [r.text for r in seed_requests("train")]
    texts += [f"{WAKE_WORD} {text}" for text in texts[::WAKE_PREFIXED_EVERY]]
    with tempfile.TemporaryDirectory(prefix="overheard-lm-") as tmp:
        files = build_language_model(texts, Path(tmp))
        domain = Decoder(**_config(lm=str(files.lm_path), dict=str(files.dict_path)))
    return PocketsphinxBackend(
        (("domain", domain), ("generic", _generic_decoder())), name="pocketsphinx"
    )


@cache
def _generic_backend() -> PocketsphinxBackend:
    return PocketsphinxBackend((("generic", _generic_decoder()),), name="pocketsphinx:generic")
