"""Streaming wake word and end-of-speech detection: the device's first privacy gate.

Idle, only the wake-word model runs, on every 80 ms frame, and the last ``pre_roll_s`` of audio
sit in a ring buffer that is overwritten continuously. On a detection the ring buffer (holding
the wake word itself, which the server verifies again) starts the utterance, and Silero VAD on
32 ms sub-frames decides where speech ends: after ``end_silence_s`` of quiet, or at
``max_utterance_s``. Nothing else is ever kept.

One exception, after the device has asked a question (:attr:`Detector.answer_until`): until the
question's deadline, speech alone (VAD) also starts the next utterance, once, so that the answer
need not begin with the wake word. The server uses such a clip only as the answer
(docs/privacy-model.md, "The answer window").
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from overheard.speech.vad import HYSTERESIS, VAD_FRAME_SAMPLES, SileroVad
from overheard.speech.wake import (
    DEFAULT_WAKE_THRESHOLD,
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    WakeWordModel,
)

PRE_ROLL_S = 1.0
"""Seconds kept before the detecting frame; the wake word ends just before it (docs/device.md)."""
END_SILENCE_S = 0.8
"""Seconds of quiet after which the utterance is over."""
MAX_UTTERANCE_S = 10.0
"""Longest utterance recorded, pre-roll included, seconds."""
VAD_THRESHOLD = 0.5
"""Speech probability at or above which a VAD frame is speech."""


@dataclass(frozen=True)
class DetectorConfig:
    """How the detector decides."""

    wake_threshold: float = DEFAULT_WAKE_THRESHOLD
    """Wake-word score (0..1) that starts an utterance."""
    pre_roll_s: float = PRE_ROLL_S
    """Seconds of audio kept from before the detection, seconds."""
    end_silence_s: float = END_SILENCE_S
    """Quiet that ends an utterance, seconds."""
    max_utterance_s: float = MAX_UTTERANCE_S
    """Longest utterance, seconds."""
    vad_threshold: float = VAD_THRESHOLD
    """Speech probability (0..1) that counts as speech."""


class Phase(StrEnum):
    """What the detector is doing."""

    IDLE = "idle"
    """Waiting for the wake word."""
    LISTENING = "listening"
    """Recording an utterance after a detection."""


@dataclass(frozen=True)
class Utterance:
    """One recorded utterance, wake word included."""

    pcm: np.ndarray
    """Samples, int16 mono at 16 kHz."""
    captured_at: datetime
    """Wall-clock time of the first sample."""
    wake_score: float
    """The score that started it, 0..1."""
    ended_by: str
    """``"silence"``, ``"max_length"`` or ``"end_of_input"``."""
    answer_only: bool = False
    """Started by speech in a question's answer window, without the wake word."""

    @property
    def duration_s(self) -> float:
        """Length, seconds."""
        return self.pcm.size / SAMPLE_RATE_HZ


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Recording:
    """An utterance in progress and its end-of-speech bookkeeping."""

    def __init__(
        self, frames: list[np.ndarray], started_at: datetime, score: float, answer_only: bool
    ) -> None:
        self.frames = frames
        self.started_at = started_at
        self.score = score
        self.answer_only = answer_only
        self.pending = np.zeros(0, np.int16)
        self.quiet_samples = 0

    @property
    def samples(self) -> int:
        return sum(frame.size for frame in self.frames)


class Detector:
    """Feed 80 ms frames; get an :class:`Utterance` back when one is complete."""

    def __init__(
        self,
        config: DetectorConfig = DetectorConfig(),
        *,
        wake: WakeWordModel | None = None,
        vad: SileroVad | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config
        self._wake = wake or WakeWordModel()
        self._vad = vad or SileroVad()
        self._clock = clock
        self._ring: collections.deque[np.ndarray] = collections.deque(
            maxlen=max(1, round(config.pre_roll_s * SAMPLE_RATE_HZ / FRAME_SAMPLES))
        )
        self._recording: _Recording | None = None
        self.last_score = 0.0
        """Wake-word score of the latest idle frame, 0..1."""
        self.answer_until: datetime | None = None
        """Until when (UTC) speech without the wake word starts one utterance: the answer to a
        question the device asked (None: no question open). Cleared when an utterance starts."""
        self._forget_ring = False

    @property
    def phase(self) -> Phase:
        """Idle or listening."""
        return Phase.IDLE if self._recording is None else Phase.LISTENING

    def open_answer_window(self, until: datetime) -> None:
        """Let speech alone start one utterance until ``until`` (UTC). The audio heard before
        (the question the device just spoke) is left out of that utterance's pre-roll."""
        self._forget_ring = True
        self.answer_until = until

    def feed(self, frame: np.ndarray) -> Utterance | None:
        """Take one frame of ``FRAME_SAMPLES`` int16 samples; an utterance when one just ended."""
        if self._forget_ring:
            self._forget_ring = False
            self._ring.clear()
        if self._recording is None:
            self._ring.append(frame.copy())
            self.last_score = self._wake.predict(frame)
            if self.last_score >= self.config.wake_threshold:
                self._start(self.last_score)
            elif self.answer_until is not None and self._answer_begins(frame):
                self._start(self.last_score, answer_only=True)
            return None
        return self._continue(self._recording, frame.copy())

    def flush(self) -> Utterance | None:
        """End of input: the utterance in progress, if any, and a fresh start."""
        recording = self._recording
        return None if recording is None else self._finish(recording, "end_of_input")

    def reset(self) -> None:
        """Forget everything heard (muting discards an utterance in progress)."""
        self._recording = None
        self._ring.clear()
        self._wake.reset()
        self._vad.reset()

    def _answer_begins(self, frame: np.ndarray) -> bool:
        """Speech in ``frame`` while a question's answer window is open."""
        until = self.answer_until
        if until is None:
            return False
        if self._clock() > until:
            self.answer_until = None
            return False
        whole = frame.size - frame.size % VAD_FRAME_SAMPLES
        heard = [
            self._vad.predict(frame[start : start + VAD_FRAME_SAMPLES])
            for start in range(0, whole, VAD_FRAME_SAMPLES)
        ]
        return max(heard, default=0.0) >= self.config.vad_threshold

    def _start(self, score: float, *, answer_only: bool = False) -> None:
        self.answer_until = None  # whatever starts now is the answer: the window is used once
        frames = list(self._ring)
        seconds = sum(frame.size for frame in frames) / SAMPLE_RATE_HZ
        started_at = self._clock() - timedelta(seconds=seconds)
        recording = _Recording(frames, started_at, score, answer_only)
        self._vad.reset()
        # Prime the recurrent VAD on the wake word so its first verdicts are not from a cold state.
        self._vad_quiet(recording, np.concatenate(frames))
        recording.quiet_samples = 0
        self._recording = recording

    def _continue(self, recording: _Recording, frame: np.ndarray) -> Utterance | None:
        recording.frames.append(frame)
        self._vad_quiet(recording, frame)
        if recording.quiet_samples >= self.config.end_silence_s * SAMPLE_RATE_HZ:
            return self._finish(recording, "silence")
        if recording.samples >= self.config.max_utterance_s * SAMPLE_RATE_HZ:
            return self._finish(recording, "max_length")
        return None

    def _vad_quiet(self, recording: _Recording, samples: np.ndarray) -> None:
        """Run VAD over whole sub-frames, counting consecutive quiet samples (with hysteresis)."""
        pending = np.concatenate([recording.pending, samples])
        whole = pending.size - pending.size % VAD_FRAME_SAMPLES
        for start in range(0, whole, VAD_FRAME_SAMPLES):
            probability = self._vad.predict(pending[start : start + VAD_FRAME_SAMPLES])
            if probability >= self.config.vad_threshold:
                recording.quiet_samples = 0
            elif probability < self.config.vad_threshold - HYSTERESIS:
                recording.quiet_samples += VAD_FRAME_SAMPLES
        recording.pending = pending[whole:]

    def _finish(self, recording: _Recording, ended_by: str) -> Utterance:
        self.reset()
        pcm = np.concatenate(recording.frames)
        return Utterance(pcm, recording.started_at, recording.score, ended_by, recording.answer_only)
