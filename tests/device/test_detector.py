"""The first privacy gate, on real clips: the wake word starts a recording, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from overheard.device.detector import Detector, DetectorConfig, Phase
from overheard.device.frames import file_frames, frames_of
from overheard.speech.audio import read_audio_file
from overheard.speech.vad import SileroVad, speech_segments, trim_silence
from overheard.speech.wake import DEFAULT_WAKE_THRESHOLD, WakeWordModel, verify_wake_word

pytestmark = pytest.mark.data
ALEXA = ("0.flac", "1.flac", "10.flac", "100.flac", "101.flac", "102.flac")


def run(detector: Detector, frames) -> list:  # type: ignore[no-untyped-def]
    found = [u for f in frames if (u := detector.feed(f)) is not None]
    last = detector.flush()
    return found + ([last] if last is not None else [])


def test_each_wake_word_clip_gives_one_utterance_the_server_can_verify(shared_data: Path):
    paths = [shared_data / "wakeword" / "alexa" / name for name in ALEXA]
    fixed = datetime(2024, 5, 1, 12, tzinfo=UTC)
    utterances = run(Detector(clock=lambda: fixed), file_frames(paths))
    assert len(utterances) == len(paths)
    model = WakeWordModel()
    for utterance, path in zip(utterances, paths, strict=True):
        assert utterance.ended_by == "silence"
        assert utterance.wake_score >= DEFAULT_WAKE_THRESHOLD
        assert 0.5 < utterance.duration_s < read_audio_file(path).duration_s + 2.0
        assert verify_wake_word(utterance.pcm, model, DEFAULT_WAKE_THRESHOLD).detected, path.name
        assert utterance.captured_at < fixed  # the pre-roll began before the detection


def test_speech_without_the_wake_word_is_never_recorded(shared_data: Path):
    speakers = sorted((shared_data / "speakers" / "librispeech-test-other").iterdir())
    paths = [sorted(s.glob("*.flac"))[0] for s in speakers[:4]]
    near_misses = sorted((shared_data / "wakeword" / "computer").glob("*.wav"))[:4]
    detector = Detector()
    assert run(detector, file_frames(paths + near_misses)) == []
    assert detector.phase is Phase.IDLE


def test_speech_that_does_not_stop_is_cut_at_the_maximum_length(shared_data: Path):
    alexa = read_audio_file(shared_data / "wakeword" / "alexa" / "0.flac").pcm
    alexa = trim_silence(alexa, speech_segments(alexa, SileroVad(), pad_s=0.0))
    speaker = sorted((shared_data / "speakers" / "librispeech-test-other").iterdir())[0]
    talk = np.concatenate([read_audio_file(p).pcm for p in sorted(speaker.glob("*.flac"))[:3]])
    pcm = np.concatenate([np.zeros(16000, np.int16), alexa, talk])
    utterances = run(Detector(DetectorConfig(max_utterance_s=4.0)), frames_of(pcm))
    assert utterances[0].ended_by == "max_length"
    assert utterances[0].duration_s == pytest.approx(4.0, abs=0.09)


def test_reset_discards_an_utterance_in_progress(shared_data: Path):
    detector = Detector()
    frames = list(file_frames([shared_data / "wakeword" / "alexa" / "0.flac"]))
    for index, frame in enumerate(frames):
        detector.feed(frame)
        if detector.phase is Phase.LISTENING:
            detector.reset()
            assert detector.phase is Phase.IDLE
            assert run(detector, frames[index + 1 :]) == []
            return
    pytest.fail("the wake word was not detected")


def test_an_open_answer_window_records_one_utterance_without_the_wake_word(shared_data: Path):
    speaker = sorted((shared_data / "speakers" / "librispeech-test-other").iterdir())[1]
    question, answer = (read_audio_file(p).pcm for p in sorted(speaker.glob("*.flac"))[:2])
    question, answer = question[: 3 * 16000], answer[: 2 * 16000]
    quiet = np.zeros(2 * 16000, np.int16)
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    detector = Detector(clock=lambda: now)
    assert run(detector, frames_of(np.concatenate([question, quiet]))) == []  # no window: nothing
    assert run(detector, frames_of(question)) == []  # the device's own question, heard
    detector.open_answer_window(datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC))
    [heard] = run(detector, frames_of(np.concatenate([answer, quiet, answer, quiet])))
    assert heard.answer_only and heard.ended_by == "silence"  # used once: the second is not kept
    # the pre-roll holds nothing of the question heard before the window opened
    assert heard.duration_s <= answer.size / 16000 + DetectorConfig().end_silence_s + 0.25
    assert detector.answer_until is None
    detector.open_answer_window(datetime(2024, 5, 1, 11, 59, tzinfo=UTC))  # already past
    assert run(detector, frames_of(np.concatenate([answer, quiet]))) == []
