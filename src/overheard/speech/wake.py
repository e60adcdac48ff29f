"""Wake-word verification: did this utterance really begin with the wake word?

The openWakeWord pipeline, run on onnxruntime alone: every 80 ms frame of 16 kHz int16 audio becomes
8 mel-spectrogram rows; the last 76 rows become one 96-dimensional speech embedding; the last 16
embeddings go to the wake-word classifier, which answers a score in 0..1.

Threads: the ONNX sessions are loaded once per process and shared (see ``_onnx``).
:func:`verify_wake_word` keeps its buffers on the stack, so one :class:`WakeWordModel` serves any
number of worker threads without a lock. ``predict``/``reset`` keep per-stream buffers on the model:
use one :class:`WakeWordModel` per audio stream (cheap, the sessions are shared).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from overheard.errors import AudioRejected
from overheard.speech._onnx import bundled_model, load_session
from overheard.speech.asr import Word

SAMPLE_RATE_HZ = 16000
"""Hertz; the only rate the graphs accept."""
FRAME_SAMPLES = 1280
"""Samples per classifier step (80 ms)."""
MEL_CONTEXT_SAMPLES = 480
"""Samples of the previous frame the mel graph needs to produce whole rows for a new frame."""
MEL_ROWS_PER_FRAME = 8
"""Mel rows (10 ms hops) produced per frame."""
EMBEDDING_WINDOW_ROWS = 76
"""Mel rows per speech embedding (about 0.76 s)."""
CLASSIFIER_WINDOW_EMBEDDINGS = 16
"""Embeddings per classifier call (about 1.28 s)."""
MEL_SCALE = 10.0
MEL_OFFSET = 2.0
"""openWakeWord maps the mel graph's output by ``x / MEL_SCALE + MEL_OFFSET`` before embedding."""
LEAD_PAD_S = 1.0
"""Seconds of silence put before a clip: the model needs context before the word starts."""
TRAIL_PAD_S = 0.5
"""Seconds of silence put after a clip: the score peaks just after the word ends."""
BUNDLED_MODEL = "alexa_v0.1.onnx"
"""The classifier used when no path is given (CC BY-NC-SA 4.0, see docs/models/wake-word.md)."""
DEFAULT_WAKE_THRESHOLD = 0.7
"""Score at or above which the wake word counts as said (tuned in benchmarks/wake_word.py)."""
WAKE_THRESHOLD_FLOOR = 0.5
"""Lowest threshold accepted: below it speech without the wake word passes and the word's end
(the first frame at the threshold) moves towards its start (docs/models/wake-word.md)."""


@dataclass(frozen=True)
class WakeResult:
    """The verdict on one clip."""

    score: float
    """Highest frame score over the clip, 0..1."""
    detected: bool
    """Whether ``score`` reached the threshold."""
    at_s: float | None
    """Seconds into the clip where the wake word ends (the first frame at the threshold); None when
    not detected."""
    peak_s: float | None = None
    """Seconds into the clip where the score of that detection peaks, at or after ``at_s``."""


class _Graphs:
    """The three sessions, plus the features of pure silence that every stream starts from."""

    def __init__(self, classifier_path: Path) -> None:
        self.mel = load_session(bundled_model("melspectrogram.onnx"))
        self.embedding = load_session(bundled_model("embedding_model.onnx"))
        self.classifier = load_session(classifier_path)
        self.classifier_input = self.classifier.get_inputs()[0].name
        silence = np.zeros(MEL_CONTEXT_SAMPLES + FRAME_SAMPLES, dtype=np.int16)
        self.silence_mel = np.repeat(self.mel_rows(silence)[:1], EMBEDDING_WINDOW_ROWS, axis=0)
        self.silence_embedding = self.embed(self.silence_mel)

    def mel_rows(self, samples: np.ndarray) -> np.ndarray:
        """Mel rows (n, 32) of int16 samples, mapped to the range the embedding expects."""
        out = np.asarray(self.mel.run(None, {"input": samples[None].astype(np.float32)})[0])
        rows: np.ndarray = out[0, 0] / MEL_SCALE + MEL_OFFSET
        return rows

    def embed(self, rows: np.ndarray) -> np.ndarray:
        """One 96-value embedding of ``EMBEDDING_WINDOW_ROWS`` mel rows."""
        out = self.embedding.run(None, {"input_1": rows[None, :, :, None].astype(np.float32)})
        return np.asarray(out[0]).reshape(-1)

    def classify(self, embeddings: np.ndarray) -> float:
        """Wake-word score of ``CLASSIFIER_WINDOW_EMBEDDINGS`` embeddings."""
        feed = {self.classifier_input: embeddings[None].astype(np.float32)}
        return float(self.classifier.run(None, feed)[0][0, 0])


_load_graphs = functools.cache(_Graphs)
"""One set of graphs per classifier file per process."""


class _Stream:
    """Buffers of one audio stream, starting as if it had been silent forever."""

    def __init__(self, graphs: _Graphs) -> None:
        self._graphs = graphs
        self._previous = np.zeros(MEL_CONTEXT_SAMPLES, dtype=np.int16)
        self._mel = graphs.silence_mel
        self._embeddings = np.tile(graphs.silence_embedding, (CLASSIFIER_WINDOW_EMBEDDINGS, 1))

    def step(self, frame: np.ndarray) -> float:
        """Score after one frame of ``FRAME_SAMPLES`` int16 samples."""
        rows = self._graphs.mel_rows(np.concatenate([self._previous, frame]))
        self._previous = frame[-MEL_CONTEXT_SAMPLES:].copy()  # callers may reuse their buffer
        self._mel = np.concatenate([self._mel, rows])[-EMBEDDING_WINDOW_ROWS:]
        embedding = self._graphs.embed(self._mel)
        self._embeddings = np.concatenate([self._embeddings[1:], embedding[None]])
        return self._graphs.classify(self._embeddings)


class WakeWordModel:
    """Streaming wake-word detector: ``predict`` one 80 ms frame at a time, ``reset`` per stream."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._graphs = _load_graphs((model_path or bundled_model(BUNDLED_MODEL)).resolve())
        self._stream = _Stream(self._graphs)

    def predict(self, frame: np.ndarray) -> float:
        """Score (0..1) after one frame of ``FRAME_SAMPLES`` int16 samples."""
        _check_pcm16(frame)
        if frame.shape != (FRAME_SAMPLES,):
            raise AudioRejected(
                f"a frame is {FRAME_SAMPLES} samples, got {frame.size}", code="bad_frame_length"
            )
        return self._stream.step(frame)

    def reset(self) -> None:
        """Forget the stream so far (the next frame follows silence)."""
        self._stream = _Stream(self._graphs)

    def frame_scores(self, pcm: np.ndarray) -> np.ndarray:
        """Score after each whole frame of ``pcm``, from a fresh stream; the model is untouched."""
        _check_pcm16(pcm)
        stream = _Stream(self._graphs)
        frames = pcm[: pcm.size - pcm.size % FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        return np.array([stream.step(frame) for frame in frames], dtype=np.float64)


def verify_wake_word(pcm: np.ndarray, model: WakeWordModel, threshold: float) -> WakeResult:
    """Score a whole 16 kHz int16 clip, padded with silence on both sides; thread-safe."""
    _check_pcm16(pcm)
    lead = round(LEAD_PAD_S * SAMPLE_RATE_HZ)
    trail = round(TRAIL_PAD_S * SAMPLE_RATE_HZ)
    trail += -(lead + pcm.size + trail) % FRAME_SAMPLES
    padded = np.concatenate([np.zeros(lead, np.int16), pcm, np.zeros(trail, np.int16)])
    scores = model.frame_scores(padded)
    score = float(scores.max(initial=0.0))
    if score < threshold:
        return WakeResult(score=score, detected=False, at_s=None)
    # The first frame to reach the threshold ends inside the word's last syllable; the peak that
    # follows can come up to 0.4 s after the word, inside the request (docs/models/wake-word.md).
    first = int(np.argmax(scores >= threshold))
    peak = first
    while peak + 1 < scores.size and scores[peak + 1] >= scores[peak]:
        peak += 1
    at_s, peak_s = (_frame_end_s(frame, lead, pcm.size) for frame in (first, peak))
    return WakeResult(score=score, detected=True, at_s=at_s, peak_s=peak_s)


def _frame_end_s(frame: int, lead: int, samples: int) -> float:
    """Seconds into an unpadded clip of ``samples`` where padded ``frame`` ends."""
    end_s = ((frame + 1) * FRAME_SAMPLES - lead) / SAMPLE_RATE_HZ
    return min(max(end_s, 0.0), samples / SAMPLE_RATE_HZ)


def keyword_in_transcript(text: str, keywords: Sequence[str] = ("alexa",)) -> bool:
    """Whether ``text`` holds one of ``keywords`` as whole words, ignoring case and punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return any(_keyword_pattern(keyword).search(folded) for keyword in keywords if keyword.strip())


def keyword_end_s(words: Sequence[Word], keywords: Sequence[str] = ("alexa",)) -> float | None:
    """Where the first of ``keywords`` ends among recognised ``words`` (seconds); None if absent."""
    folded = [_fold(w.text) for w in words]
    for i in range(len(words)):
        for keyword in keywords:
            parts = [_fold(part) for part in keyword.split()]
            if parts and all(parts) and folded[i : i + len(parts)] == parts:
                return words[i + len(parts) - 1].end_s
    return None


def _fold(word: str) -> str:
    # "Alexa," "ALEXA!" and "alexa's" are the keyword; whisper's words carry their punctuation.
    folded = unicodedata.normalize("NFKC", word).casefold()
    return re.sub(r"(?:'s|’s)$", "", re.sub(r"^[\W_]+|[\W_]+$", "", folded))


@functools.cache
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = unicodedata.normalize("NFKC", keyword).casefold().split()
    # Any run of spaces or punctuation may separate the words of a phrase ("hey, mycroft").
    return re.compile(r"(?<!\w)" + r"[\W_]+".join(map(re.escape, words)) + r"(?!\w)")


def _check_pcm16(pcm: np.ndarray) -> None:
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise AudioRejected(
            f"expected mono int16 samples, got {pcm.dtype} with shape {pcm.shape}",
            code="not_pcm16_mono",
        )
