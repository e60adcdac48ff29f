"""The faster-whisper backend (optional): a local CTranslate2 Whisper model, imported only when asked.

Word confidence is faster-whisper's per-word probability; the utterance confidence is their mean.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from overheard.errors import ConfigError
from overheard.speech.asr import Transcript, Word, check_pcm, empty_transcript

INSTALL_HINT = "pip install faster-whisper"
PCM_SCALE = 32768.0
LANGUAGE = "en"
BEAM_SIZE = 1
COMPUTE_TYPE = "int8"
"""Quantised weights: the CPU-friendly choice."""


def _load_model(model_dir: Path) -> Any:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ConfigError(
            f"the whisper recogniser needs faster-whisper: {INSTALL_HINT}", code="missing_extra"
        ) from exc
    if not (model_dir / "model.bin").is_file():
        raise ConfigError(f"no CTranslate2 Whisper model (model.bin) in {model_dir}")
    return WhisperModel(str(model_dir), device="cpu", compute_type=COMPUTE_TYPE)


class WhisperBackend:
    """faster-whisper over whole utterances; one decode at a time."""

    def __init__(self, model_dir: Path) -> None:
        self.name = f"whisper:{model_dir}"
        self._model = _load_model(model_dir)
        self._lock = threading.Lock()

    def transcribe(self, pcm: np.ndarray) -> Transcript:
        """Recognise int16 mono 16 kHz samples."""
        audio = check_pcm(pcm).astype(np.float32) / PCM_SCALE
        if audio.size == 0:
            return empty_transcript(self.name)
        with self._lock:
            segments, _ = self._model.transcribe(
                audio, language=LANGUAGE, beam_size=BEAM_SIZE, word_timestamps=True
            )
            words = tuple(_word(w) for segment in segments for w in segment.words or ())
        if not words:
            return empty_transcript(self.name)
        confidence = float(np.mean([w.confidence for w in words]))
        return Transcript(" ".join(w.text for w in words), words, confidence, self.name)


def _word(word: Any) -> Word:
    text = word.word.strip()
    return Word(text, float(word.start), float(word.end), min(1.0, max(0.0, word.probability)))
