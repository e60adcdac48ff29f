"""Voice activity detection: Silero VAD, the ``silero_vad.onnx`` shipped in the openWakeWord wheel.

The graph is a small recurrent network: each 32 ms frame of 16 kHz audio, plus the LSTM state
left by the previous frame, gives a speech probability in 0..1. :func:`speech_segments` turns those
probabilities into padded speech spans with silero's own hysteresis rule.

Threads: the session is shared (see ``_onnx``). :meth:`SileroVad.probabilities` and
:func:`speech_segments` keep their state on the stack, so one :class:`SileroVad` serves every
worker thread; ``predict``/``reset`` keep per-stream state: one :class:`SileroVad` per stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from overheard.errors import AudioRejected, ConfigError
from overheard.speech._onnx import bundled_model, load_session

SAMPLE_RATE_HZ = 16000
"""Hertz; the rate the graph is run at."""
VAD_FRAME_SAMPLES = 512
"""Samples per VAD step (32 ms), one of the frame sizes the graph was trained on at 16 kHz."""
PCM16_FULL_SCALE = 32768.0
"""Divisor mapping int16 samples onto the graph's -1..1 input."""
STATE_SHAPE = (2, 1, 64)
"""Shape of each LSTM state tensor (``h`` and ``c``): layers, batch, units."""
HYSTERESIS = 0.15
"""Speech ends only when the probability falls this far below the threshold (silero's rule)."""
REQUEST_END_PAD_S = 0.25
"""Seconds kept after the last speech frame of a request, so its last sound is not clipped."""
BUNDLED_MODEL = "silero_vad.onnx"
"""The graph used when no path is given (MIT licence, see docs/models/vad.md)."""
_INPUTS = {"input", "sr", "h", "c"}


@dataclass(frozen=True)
class Segment:
    """One span of speech."""

    start_s: float
    """Seconds from the start of the clip."""
    end_s: float
    """Seconds from the start of the clip, after ``start_s``."""


class _State:
    """Recurrent state of one stream."""

    def __init__(self) -> None:
        self.h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self.c = np.zeros(STATE_SHAPE, dtype=np.float32)


class SileroVad:
    """Speech probability per 32 ms frame; ``predict`` streams, ``probabilities`` does a clip."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._session = load_session(model_path or bundled_model(BUNDLED_MODEL))
        names = {graph_input.name for graph_input in self._session.get_inputs()}
        if names != _INPUTS:
            raise ConfigError(f"not a Silero VAD v4 graph: inputs {sorted(names)}")
        self._sample_rate = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
        self._state = _State()

    def predict(self, frame: np.ndarray) -> float:
        """Speech probability (0..1) of one frame of ``VAD_FRAME_SAMPLES`` int16 samples."""
        _check_pcm16(frame)
        if frame.shape != (VAD_FRAME_SAMPLES,):
            raise AudioRejected(
                f"a VAD frame is {VAD_FRAME_SAMPLES} samples, got {frame.size}",
                code="bad_frame_length",
            )
        return self._step(frame, self._state)

    def reset(self) -> None:
        """Forget the stream so far."""
        self._state = _State()

    def probabilities(self, pcm: np.ndarray) -> np.ndarray:
        """Probability of every frame of a clip (the last one zero-padded), from a fresh state."""
        _check_pcm16(pcm)
        padded = np.concatenate([pcm, np.zeros(-pcm.size % VAD_FRAME_SAMPLES, np.int16)])
        state = _State()
        frames = padded.reshape(-1, VAD_FRAME_SAMPLES)
        return np.array([self._step(frame, state) for frame in frames], dtype=np.float64)

    def run(self, pcm: np.ndarray) -> VadPass:
        """A pass over a clip computed only as far as it is read (see :class:`VadPass`)."""
        return VadPass(self, pcm)

    def _step(self, frame: np.ndarray, state: _State) -> float:
        feed = {
            "input": (frame / PCM16_FULL_SCALE).astype(np.float32)[None],
            "sr": self._sample_rate,
            "h": state.h,
            "c": state.c,
        }
        probability, state.h, state.c = self._session.run(None, feed)
        return float(probability[0, 0])


class VadPass:
    """One pass of the graph over a clip from a fresh state, computed frame by frame only as far
    as it is read, and kept: the end-pointer reads up to the request's end (not over the talk
    that may follow it), and the speech segments of the request reuse those frames."""

    def __init__(self, vad: SileroVad, pcm: np.ndarray) -> None:
        _check_pcm16(pcm)
        self._vad, self._pcm = vad, pcm
        self._state = _State()
        self._probabilities: list[float] = []
        self._states = [(self._state.h, self._state.c)]
        """The recurrent state before each full frame (the graph returns new arrays each step)."""

    @property
    def frame_count(self) -> int:
        """Frames of the clip, the last one zero-padded."""
        return -(-self._pcm.size // VAD_FRAME_SAMPLES)

    @property
    def frames_run(self) -> int:
        """Frames the graph has run on so far."""
        return len(self._probabilities)

    def frames(self) -> Iterator[float]:
        """Every frame's probability in order, computing those not yet computed."""
        index = 0
        while index < self.frame_count:
            if index == len(self._probabilities):
                self._compute_next()
            yield self._probabilities[index]
            index += 1

    def prefix(self, samples: int) -> np.ndarray:
        """What :meth:`SileroVad.probabilities` gives for the clip's first ``samples`` samples:
        the full frames already computed (or computed now), the last partial frame zero-padded
        and run from the state the pass had there."""
        full, rest = divmod(min(samples, self._pcm.size), VAD_FRAME_SAMPLES)
        while len(self._probabilities) < full:
            self._compute_next()
        probabilities = self._probabilities[:full]
        if rest:
            h, c = self._states[full]
            state = _State()
            state.h, state.c = h, c
            start = full * VAD_FRAME_SAMPLES
            frame = np.zeros(VAD_FRAME_SAMPLES, np.int16)
            frame[:rest] = self._pcm[start : start + rest]
            probabilities = [*probabilities, self._vad._step(frame, state)]
        return np.array(probabilities, dtype=np.float64)

    def _compute_next(self) -> None:
        start = len(self._probabilities) * VAD_FRAME_SAMPLES
        frame = self._pcm[start : start + VAD_FRAME_SAMPLES]
        if frame.size < VAD_FRAME_SAMPLES:
            frame = np.concatenate([frame, np.zeros(VAD_FRAME_SAMPLES - frame.size, np.int16)])
        self._probabilities.append(self._vad._step(frame, self._state))
        self._states.append((self._state.h, self._state.c))


def speech_segments(
    pcm: np.ndarray,
    vad: SileroVad,
    *,
    threshold: float = 0.5,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.3,
    pad_s: float = 0.1,
    probabilities: np.ndarray | None = None,
) -> list[Segment]:
    """Speech spans of a 16 kHz int16 clip, widened by ``pad_s``, merged where they touch.

    ``probabilities``: the clip's frame probabilities when already computed (as
    :meth:`VadPass.prefix` gives them); otherwise the graph runs over the clip."""
    frame_s = VAD_FRAME_SAMPLES / SAMPLE_RATE_HZ
    if probabilities is None:
        probabilities = vad.probabilities(pcm)
    spans = _raw_spans(probabilities, threshold, math.ceil(min_silence_s / frame_s))
    duration_s = pcm.size / SAMPLE_RATE_HZ
    segments: list[Segment] = []
    for first, last in spans:
        start_s, end_s = first * frame_s, min(last * frame_s, duration_s)
        if end_s - start_s < min_speech_s:
            continue
        start_s, end_s = max(start_s - pad_s, 0.0), min(end_s + pad_s, duration_s)
        if segments and start_s <= segments[-1].end_s:
            start_s = segments.pop().start_s
        segments.append(Segment(start_s=start_s, end_s=end_s))
    return segments


def request_end_s(
    pcm: np.ndarray,
    vad: SileroVad,
    *,
    pause_s: float,
    after_s: float = 0.0,
    threshold: float = 0.5,
    min_speech_s: float = 0.25,
    pad_s: float = REQUEST_END_PAD_S,
    vad_pass: VadPass | None = None,
) -> float | None:
    """Where the request that starts ``pcm`` ends: ``pad_s`` after the first speech span (at least
    ``min_speech_s`` long, ending later than ``after_s``) that ``pause_s`` of quiet follows.

    None when no such pause comes before the clip ends: the request fills it. The graph runs only
    as far as that pause (``vad_pass``: a pass over ``pcm`` to read, and keep, the frames from)."""
    frame_s = VAD_FRAME_SAMPLES / SAMPLE_RATE_HZ
    frames = (vad_pass or VadPass(vad, pcm)).frames()
    for first, last in _closed_spans(frames, threshold, math.ceil(pause_s / frame_s)):
        if (last - first) * frame_s < min_speech_s or last * frame_s <= after_s:
            continue  # a click, or the tail of the wake word: the request has not started
        return min(last * frame_s + min(pad_s, pause_s), pcm.size / SAMPLE_RATE_HZ)
    return None  # speech (or too short a pause) runs to the end of the clip


def _raw_spans(
    probabilities: np.ndarray, threshold: float, min_silence_frames: int
) -> list[tuple[int, int]]:
    """Frame spans [first, last) of speech: start at ``threshold``, end after enough quiet."""
    spans: list[tuple[int, int]] = []
    tail = _Tail()
    spans.extend(_closed_spans(probabilities, threshold, min_silence_frames, tail))
    if tail.start is not None:
        last = tail.quiet_since if tail.quiet_since is not None else len(probabilities)
        spans.append((tail.start, last))
    return spans


@dataclass
class _Tail:
    """Where the speech still open when the probabilities ran out started, and its quiet since."""

    start: int | None = None
    quiet_since: int | None = None


def _closed_spans(
    probabilities: Iterable[float],
    threshold: float,
    min_silence_frames: int,
    tail: _Tail | None = None,
) -> Iterator[tuple[int, int]]:
    """The spans that ``min_silence_frames`` of quiet close, each as soon as it is closed (lazily:
    nothing after that frame is read until the next one is asked for); ``tail`` gets the open one."""
    start: int | None = None
    quiet_since: int | None = None
    for index, probability in enumerate(probabilities):
        if probability >= threshold:
            start = index if start is None else start
            quiet_since = None
        elif start is not None and probability < threshold - HYSTERESIS:
            quiet_since = index if quiet_since is None else quiet_since
            if index + 1 - quiet_since >= min_silence_frames:
                yield start, quiet_since
                start = quiet_since = None
    if tail is not None:
        tail.start, tail.quiet_since = start, quiet_since


def trim_silence(pcm: np.ndarray, segments: list[Segment]) -> np.ndarray:
    """The clip from the first segment's start to the last one's end; empty without speech."""
    if not segments:
        return pcm[:0]
    start = math.floor(min(segment.start_s for segment in segments) * SAMPLE_RATE_HZ)
    end = math.ceil(max(segment.end_s for segment in segments) * SAMPLE_RATE_HZ)
    return pcm[start:end]


def _check_pcm16(pcm: np.ndarray) -> None:
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise AudioRejected(
            f"expected mono int16 samples, got {pcm.dtype} with shape {pcm.shape}",
            code="not_pcm16_mono",
        )
