"""Voice activity detection on real speech, on silence and noise, and trimming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from overheard.errors import AudioRejected, ConfigError
from overheard.speech.vad import (
    REQUEST_END_PAD_S,
    SAMPLE_RATE_HZ,
    VAD_FRAME_SAMPLES,
    Segment,
    SileroVad,
    _raw_spans,
    request_end_s,
    speech_segments,
    trim_silence,
)

SPEECH_FOLDER = Path("speakers") / "librispeech-test-other"
UTTERANCES = ("1688/1688-142285-0000.flac", "2414/*-0003.flac", "533/*-0005.flac")
MIN_SPEECH_SHARE = 0.5
"""Read speech is mostly speech: measured 0.74 of frames over the 100 utterances."""
LEAD_SILENCE_S = 1.5
TAIL_NOISE_S = 1.0
PAD_S = 0.1
"""``speech_segments``' default padding, seconds."""
MIN_ENERGY_KEPT = 0.97
"""Breaths and room noise before the first word may go; the words may not."""


def read_pcm16(path: Path) -> np.ndarray:
    """A 16 kHz mono file as int16."""
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == SAMPLE_RATE_HZ and pcm.ndim == 1
    return pcm


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    """The bundled Silero model, shared by the module."""
    return SileroVad()


@pytest.fixture(scope="module")
def utterances(shared_data: Path) -> list[np.ndarray]:
    """Three read-speech utterances from different speakers."""
    folder = shared_data / SPEECH_FOLDER
    return [read_pcm16(next(iter(sorted(folder.glob(pattern))))) for pattern in UTTERANCES]


def silence(seconds: float) -> np.ndarray:
    """Digital silence."""
    return np.zeros(round(seconds * SAMPLE_RATE_HZ), np.int16)


def noise(seconds: float, dbfs: float, seed: int = 3) -> np.ndarray:
    """White noise at an RMS level in dB below full scale."""
    rms = 32768 * 10 ** (dbfs / 20)
    samples = np.random.default_rng(seed).normal(0.0, rms, round(seconds * SAMPLE_RATE_HZ))
    return samples.astype(np.int16)


def speech_s(segments: list[Segment]) -> float:
    """Seconds covered by the segments."""
    return sum(s.end_s - s.start_s for s in segments)


@pytest.mark.data
def test_speech_is_found_in_read_speech(vad: SileroVad, utterances: list[np.ndarray]) -> None:
    for pcm in utterances:
        duration_s = pcm.size / SAMPLE_RATE_HZ
        segments = speech_segments(pcm, vad)
        assert segments
        assert speech_s(segments) >= MIN_SPEECH_SHARE * duration_s
        ends = [edge for s in segments for edge in (s.start_s, s.end_s)]
        assert ends == sorted(ends) and len(set(ends)) == len(ends)  # ordered, disjoint
        assert ends[0] >= 0.0 and ends[-1] <= duration_s


@pytest.mark.parametrize(
    "name", ["silence", "noise -60 dBFS", "noise -40 dBFS", "noise -20 dBFS", "DC offset"]
)
def test_no_speech_in_silence_or_noise(vad: SileroVad, name: str) -> None:
    pcm = {
        "silence": silence(3.0),
        "noise -60 dBFS": noise(3.0, -60.0),
        "noise -40 dBFS": noise(3.0, -40.0),
        "noise -20 dBFS": noise(3.0, -20.0),
        "DC offset": np.full(3 * SAMPLE_RATE_HZ, 8000, np.int16),
    }[name]
    assert speech_segments(pcm, vad) == []
    assert trim_silence(pcm, []).size == 0


@pytest.mark.data
def test_trim_keeps_the_speech_and_drops_the_silence(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    speech = utterances[0]
    speech_end_s = LEAD_SILENCE_S + speech.size / SAMPLE_RATE_HZ
    pcm = np.concatenate([silence(LEAD_SILENCE_S), speech, noise(TAIL_NOISE_S, -50.0)])
    segments = speech_segments(pcm, vad)
    trimmed = trim_silence(pcm, segments)
    assert LEAD_SILENCE_S - PAD_S <= segments[0].start_s < speech_end_s
    assert segments[-1].end_s <= speech_end_s + PAD_S
    energy = np.sum(pcm.astype(np.float64) ** 2)
    assert np.sum(trimmed.astype(np.float64) ** 2) >= MIN_ENERGY_KEPT * energy


@pytest.mark.data
def test_short_pauses_join_and_long_pauses_split(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    first, second = utterances[1], utterances[2]
    close = speech_segments(np.concatenate([first, silence(0.1), second]), vad, min_silence_s=2.0)
    apart = speech_segments(np.concatenate([first, silence(3.0), second]), vad, min_silence_s=2.0)
    assert len(close) == 1
    assert len(apart) == 2
    gap_start_s = first.size / SAMPLE_RATE_HZ
    assert apart[0].end_s <= gap_start_s + 0.5 and apart[1].start_s >= gap_start_s + 2.5


END_PAUSE_S = 2.0
"""The pause that ends a request in these tests: longer than any inside a read sentence."""
VAD_LAG_S = 0.1
"""The speech probability falls a few frames after the sound stops, seconds."""


def spoken(vad: SileroVad, utterances: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two utterances cut to their speech, so that the pauses between them are the test's own."""
    return tuple(  # type: ignore[return-value]
        trim_silence(u, speech_segments(u, vad)) for u in (utterances[1], utterances[2])
    )


@pytest.mark.data
def test_a_request_ends_at_the_first_long_pause(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    first, second = spoken(vad, utterances)
    said_s = speech_segments(first, vad)[-1].end_s
    pcm = np.concatenate([first, silence(END_PAUSE_S + 1.0), second])
    end_s = request_end_s(pcm, vad, pause_s=END_PAUSE_S)
    assert end_s is not None
    assert said_s - 0.3 <= end_s <= said_s + REQUEST_END_PAD_S + VAD_LAG_S


@pytest.mark.data
def test_a_shorter_pause_does_not_end_the_request(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    first, second = spoken(vad, utterances)
    both = np.concatenate([first, silence(END_PAUSE_S - 0.5), second])
    assert request_end_s(both, vad, pause_s=END_PAUSE_S) is None  # speech to the end
    end_s = request_end_s(np.concatenate([both, silence(3.0)]), vad, pause_s=END_PAUSE_S)
    assert end_s is not None and end_s >= speech_segments(both, vad)[-1].end_s - 0.3


@pytest.mark.data
def test_speech_before_after_s_does_not_start_the_request(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    first, second = spoken(vad, utterances)
    start = round(speech_segments(first, vad)[0].start_s * SAMPLE_RATE_HZ)
    blip = first[start : start + round(0.6 * SAMPLE_RATE_HZ)]
    pcm = np.concatenate([blip, silence(END_PAUSE_S + 0.5), second, silence(3.0)])
    early = request_end_s(pcm, vad, pause_s=END_PAUSE_S)
    late = request_end_s(pcm, vad, pause_s=END_PAUSE_S, after_s=1.0)
    assert early is not None and early <= blip.size / SAMPLE_RATE_HZ + REQUEST_END_PAD_S + VAD_LAG_S
    assert late is not None and late >= (pcm.size - second.size) / SAMPLE_RATE_HZ


@pytest.mark.data
def test_streaming_predict_matches_whole_clip(vad: SileroVad, utterances: list[np.ndarray]) -> None:
    pcm = utterances[0][: 40 * VAD_FRAME_SAMPLES]
    stream = SileroVad()
    stream.predict(noise(VAD_FRAME_SAMPLES / SAMPLE_RATE_HZ, -10.0))
    stream.reset()
    streamed = [stream.predict(frame) for frame in pcm.reshape(-1, VAD_FRAME_SAMPLES)]
    np.testing.assert_allclose(streamed, vad.probabilities(pcm), atol=1e-6)
    assert max(streamed) > 0.5


def full_clip_request_end_s(pcm: np.ndarray, vad: SileroVad, pause_s: float) -> float | None:
    """The end-pointer's rule read off the whole clip's probabilities (as it was first written)."""
    frame_s = VAD_FRAME_SAMPLES / SAMPLE_RATE_HZ
    probabilities = vad.probabilities(pcm)
    pause_frames = int(np.ceil(pause_s / frame_s))
    for first, last in _raw_spans(probabilities, 0.5, pause_frames):
        if (last - first) * frame_s < 0.25:
            continue
        if probabilities.size - last < pause_frames:
            return None
        return min(last * frame_s + min(REQUEST_END_PAD_S, pause_s), pcm.size / SAMPLE_RATE_HZ)
    return None


@pytest.mark.data
def test_the_end_pointer_reads_the_vad_only_up_to_the_request_end(
    vad: SileroVad, utterances: list[np.ndarray]
) -> None:
    first, second = spoken(vad, utterances)
    talk_after = np.concatenate([first, silence(END_PAUSE_S + 1.0), second, second, second])
    vad_pass = vad.run(talk_after)
    end_s = request_end_s(talk_after, vad, pause_s=END_PAUSE_S, vad_pass=vad_pass)
    assert end_s == full_clip_request_end_s(talk_after, vad, END_PAUSE_S)
    assert end_s is not None
    assert vad_pass.frames_run <= (end_s + END_PAUSE_S) * SAMPLE_RATE_HZ / VAD_FRAME_SAMPLES + 2
    assert vad_pass.frames_run < vad_pass.frame_count / 2  # the talk after it was never run
    # A clip the request fills is read to its end, and gives the same answer as before.
    for pcm in (np.concatenate([first, silence(END_PAUSE_S - 0.5), second]), utterances[0]):
        assert request_end_s(pcm, vad, pause_s=END_PAUSE_S) == full_clip_request_end_s(
            pcm, vad, END_PAUSE_S
        )


@pytest.mark.data
@pytest.mark.parametrize("frames", [0, 0.4, 1, 7, 7.5, 63.2])
def test_a_pass_gives_any_prefix_the_probabilities_of_a_fresh_run(
    vad: SileroVad, utterances: list[np.ndarray], frames: float
) -> None:
    pcm = utterances[1]
    samples = round(frames * VAD_FRAME_SAMPLES)
    vad_pass = vad.run(pcm)
    list(zip(range(30), vad_pass.frames(), strict=False))  # some frames read already
    expected = vad.probabilities(pcm[:samples])
    assert np.array_equal(vad_pass.prefix(samples), expected)
    assert speech_segments(
        pcm[:samples], vad, probabilities=vad_pass.prefix(samples)
    ) == speech_segments(pcm[:samples], vad)
    assert np.array_equal(np.fromiter(vad_pass.frames(), float), vad.probabilities(pcm))


def test_trim_silence_cuts_at_segment_edges() -> None:
    pcm = np.arange(4 * SAMPLE_RATE_HZ, dtype=np.int16)
    trimmed = trim_silence(pcm, [Segment(0.5, 1.0), Segment(2.0, 2.25)])
    assert trimmed[0] == pcm[SAMPLE_RATE_HZ // 2]
    assert trimmed.size == round(1.75 * SAMPLE_RATE_HZ)


def test_input_checks(vad: SileroVad, tmp_path: Path) -> None:
    with pytest.raises(AudioRejected) as wrong_length:
        vad.predict(np.zeros(VAD_FRAME_SAMPLES + 1, np.int16))
    assert wrong_length.value.code == "bad_frame_length"
    with pytest.raises(AudioRejected):
        speech_segments(np.zeros(SAMPLE_RATE_HZ, np.float64), vad)
    assert speech_segments(np.zeros(0, np.int16), vad) == []
    with pytest.raises(ConfigError):
        SileroVad(tmp_path / "missing.onnx")
