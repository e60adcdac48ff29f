"""Frame sources: files, pipes, and a microphone through the same interface as PortAudio."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest

from overheard.device.frames import (
    FILE_PAD_S,
    FRAME_S,
    audio_files,
    file_frames,
    frames_of,
    microphone_frames,
    open_portaudio,
    paced,
    stream_frames,
)
from overheard.device.mute import MuteSwitch
from overheard.errors import AudioRejected
from overheard.speech.audio import read_audio_file, to_wav_bytes
from overheard.speech.wake import FRAME_SAMPLES, SAMPLE_RATE_HZ


def speech(seconds: float = 1.05) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-3000, 3000, round(seconds * SAMPLE_RATE_HZ)).astype(np.int16)


def test_frames_are_whole_and_the_last_is_padded():
    pcm = speech(1.05)
    frames = list(frames_of(pcm))
    assert all(f.shape == (FRAME_SAMPLES,) and f.dtype == np.int16 for f in frames)
    joined = np.concatenate(frames)
    assert np.array_equal(joined[: pcm.size], pcm) and not joined[pcm.size :].any()


@pytest.mark.data
def test_files_are_played_as_bursts_in_a_quiet_room(shared_data: Path):
    path = shared_data / "wakeword" / "alexa" / "0.flac"
    pcm = read_audio_file(path).pcm
    joined = np.concatenate(list(file_frames([path])))
    pad = round(FILE_PAD_S * SAMPLE_RATE_HZ)
    assert not joined[:pad].any()
    assert np.array_equal(joined[pad : pad + pcm.size], pcm)
    assert not joined[pad + pcm.size :].any() and joined.size >= 2 * pad + pcm.size


def test_folders_are_read_recursively_in_order(tmp_path: Path):
    for name in ("b/2.wav", "a/1.flac", "c.ogg", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in audio_files(tmp_path)] == [
        "a/1.flac", "b/2.wav", "c.ogg"]
    with pytest.raises(FileNotFoundError):
        audio_files(tmp_path / "missing")


@pytest.mark.parametrize("as_wav", [False, True], ids=["raw-s16le", "wav-stream"])
def test_stdin_stream_gives_the_same_frames(as_wav: bool):
    pcm = speech(0.5)
    data = to_wav_bytes(pcm) if as_wav else pcm.astype("<i2").tobytes()
    got = np.concatenate(list(stream_frames(io.BufferedReader(io.BytesIO(data), 7))))
    assert np.array_equal(got[: pcm.size], pcm) and got.size % FRAME_SAMPLES == 0


def test_stdin_wav_of_another_format_is_refused_with_the_fix():
    with pytest.raises(AudioRejected, match="sox"):
        list(stream_frames(io.BytesIO(to_wav_bytes(speech(0.2), rate_hz=8000))))


def test_paced_frames_follow_the_clock():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    out = list(paced(frames_of(speech(0.4)), clock=lambda: now[0], sleep=sleep))
    assert len(out) == 5 and now[0] == pytest.approx(4 * FRAME_S)


class FakeInputStream:
    """Behaves like sounddevice.RawInputStream over a recorded buffer; logs its life."""

    def __init__(self, pcm: np.ndarray, log: list[str], read_hook=None) -> None:  # type: ignore[no-untyped-def]
        self._data, self._log, self._hook = pcm.astype("<i2").tobytes(), log, read_hook
        self._pos = 0
        log.append("open")

    def start(self) -> None:
        self._log.append("start")

    def read(self, frames: int) -> tuple[bytes, bool]:
        if self._hook is not None:
            self._hook(self._pos)
        chunk = self._data[self._pos : self._pos + frames * 2]
        self._pos += frames * 2
        return (chunk if len(chunk) == frames * 2 else b""), False

    def stop(self) -> None:
        self._log.append("stop")

    def close(self) -> None:
        self._log.append("close")


def test_microphone_frames_through_the_input_stream_interface():
    pcm = speech(0.8)
    log: list[str] = []
    got = list(microphone_frames(lambda: FakeInputStream(pcm, log), MuteSwitch()))
    assert np.array_equal(np.concatenate(got), pcm[: len(got) * FRAME_SAMPLES])
    assert len(got) == pcm.size // FRAME_SAMPLES and log == ["open", "start", "stop", "close"]


def test_muting_closes_the_microphone_and_unmuting_reopens_it():
    switch, log = MuteSwitch(), []
    pcm = speech(0.8)

    def hook(pos: int) -> None:
        if pos == 2 * FRAME_SAMPLES * 2 and log.count("open") == 1:
            switch.set(True)
            threading.Timer(0.3, switch.set, args=(False,)).start()

    got = list(microphone_frames(lambda: FakeInputStream(pcm, log, hook), switch))
    assert log[:4] == ["open", "start", "stop", "close"], "muting must release the device"
    assert log.count("open") == 2 and switch.muted is False
    assert len(got) == 3 + pcm.size // FRAME_SAMPLES


def test_portaudio_microphone_where_one_exists():
    try:
        import sounddevice
    except OSError as exc:
        pytest.skip(f"PortAudio is not installed here: {exc}")
    inputs = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
    if not inputs:
        pytest.skip("no audio input device on this machine")
    switch = MuteSwitch()
    frames = microphone_frames(open_portaudio, switch)
    first = [next(frames) for _ in range(3)]
    frames.close()
    assert all(f.shape == (FRAME_SAMPLES,) and f.dtype == np.int16 for f in first)
