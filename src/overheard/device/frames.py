"""Frame sources: 80 ms blocks of 16 kHz int16 audio from files, folders, a pipe or a microphone.

Every source yields frames of exactly ``FRAME_SAMPLES`` samples. A file is played as a burst of
sound in a quiet room: silence before it (the wake-word model needs context) and after it (the
endpointer needs a trailing pause).
"""

from __future__ import annotations

import time
import wave
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from overheard.device.mute import MuteSwitch
from overheard.errors import AudioRejected
from overheard.speech.audio import read_audio_file
from overheard.speech.wake import FRAME_SAMPLES, SAMPLE_RATE_HZ

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
"""Seconds per frame (0.08)."""
FILE_PAD_S = 1.0
"""Seconds of silence played before and after each file."""
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg"})
"""File name endings read from a folder."""
BYTES_PER_SAMPLE = 2
MUTED_POLL_S = 0.2
"""How often a muted microphone checks whether it was unmuted, seconds."""


def frames_of(pcm: np.ndarray) -> Iterator[np.ndarray]:
    """Whole frames of ``pcm``; the last one is padded with silence."""
    padded = np.concatenate([pcm, np.zeros(-pcm.size % FRAME_SAMPLES, np.int16)])
    yield from padded.reshape(-1, FRAME_SAMPLES)


def padded_clip(pcm: np.ndarray, pad_s: float = FILE_PAD_S) -> np.ndarray:
    """``pcm`` with ``pad_s`` seconds of silence on both sides."""
    pad = np.zeros(round(pad_s * SAMPLE_RATE_HZ), np.int16)
    return np.concatenate([pad, pcm, pad])


def audio_files(path: Path) -> list[Path]:
    """``path`` itself, or the audio files under a folder (recursively, sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    found = (p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    return sorted(found)


def file_frames(
    paths: Iterable[Path],
    *,
    pad_s: float = FILE_PAD_S,
    on_file: Callable[[Path], None] | None = None,
) -> Iterator[np.ndarray]:
    """Frames of each file in turn, each padded with silence; ``on_file`` hears each new file."""
    for path in paths:
        if on_file is not None:
            on_file(path)
        yield from frames_of(padded_clip(read_audio_file(path).pcm, pad_s))


def stream_frames(stream: BinaryIO) -> Iterator[np.ndarray]:
    """Frames from a pipe: raw 16 kHz mono s16le, or a WAV stream of that format."""
    head = _read_exactly(stream, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        _skip_to_wav_data(stream)
        head = b""
    pending = head
    while chunk := stream.read(FRAME_SAMPLES * BYTES_PER_SAMPLE - len(pending)):
        pending += chunk
        if len(pending) == FRAME_SAMPLES * BYTES_PER_SAMPLE:
            yield np.frombuffer(pending, "<i2").astype(np.int16)
            pending = b""
    if len(pending) >= BYTES_PER_SAMPLE:
        yield from frames_of(np.frombuffer(pending[: len(pending) // 2 * 2], "<i2").astype(np.int16))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := stream.read(size - len(data))):
        data += chunk
    return data


def _skip_to_wav_data(stream: BinaryIO) -> None:
    """Read chunk headers up to the ``data`` chunk, refusing anything but 16 kHz mono PCM16."""
    while len(header := _read_exactly(stream, 8)) == 8:
        size = int.from_bytes(header[4:], "little")
        if header[:4] == b"data":
            return
        body = _read_exactly(stream, size + (size & 1))
        if header[:4] == b"fmt ":
            _check_wav_format(body)
    raise AudioRejected("the WAV stream has no data chunk")


def _check_wav_format(fmt: bytes) -> None:
    tag, channels = int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little")
    rate, bits = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[14:16], "little")
    if (tag, channels, rate, bits) != (wave.WAVE_FORMAT_PCM, 1, SAMPLE_RATE_HZ, 16):
        raise AudioRejected(
            f"stdin must carry 16 kHz mono 16-bit PCM; got format {tag}, {channels} channels, "
            f"{rate} Hz, {bits} bits (convert with: sox IN -r 16000 -c 1 -b 16 -t wav -)"
        )


def paced(frames: Iterable[np.ndarray], *, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[np.ndarray]:
    """The frames at the pace a microphone would deliver them (one per ``FRAME_S``)."""
    start = clock()
    for index, frame in enumerate(frames):
        delay = start + index * FRAME_S - clock()
        if delay > 0:
            sleep(delay)
        yield frame


class InputStream(Protocol):
    """The part of ``sounddevice.RawInputStream`` a microphone source uses."""

    def start(self) -> None:
        """Begin capturing."""

    def read(self, frames: int) -> tuple[bytes | memoryview, bool]:
        """Block until ``frames`` samples are there; returns them and whether input overflowed."""

    def stop(self) -> None:
        """Stop capturing."""

    def close(self) -> None:
        """Release the device."""


def open_portaudio(device: int | str | None = None) -> InputStream:
    """A 16 kHz mono int16 PortAudio input stream (``sounddevice`` imported only here)."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise RuntimeError(
            "microphone input needs PortAudio and sounddevice "
            "(apt-get install libportaudio2; pip install sounddevice); "
            f"or use --input FILE|DIR|-  ({exc})"
        ) from exc
    stream: InputStream = sounddevice.RawInputStream(
        samplerate=SAMPLE_RATE_HZ,
        channels=1,
        dtype="int16",
        blocksize=FRAME_SAMPLES,
        device=device,
    )
    return stream


def microphone_frames(
    open_stream: Callable[[], InputStream],
    switch: MuteSwitch,
    *,
    on_overflow: Callable[[], None] | None = None,
) -> Iterator[np.ndarray]:
    """Frames from a live input; while muted the stream is closed, so nothing is captured at all."""
    while True:
        if switch.muted:
            switch.wait_unmuted(MUTED_POLL_S)
            continue
        stream = open_stream()
        stream.start()
        try:
            while not switch.muted:
                data, overflowed = stream.read(FRAME_SAMPLES)
                if overflowed and on_overflow is not None:
                    on_overflow()
                if len(data) == 0:
                    return
                yield np.frombuffer(bytes(data), "<i2").astype(np.int16)
        finally:
            stream.stop()
            stream.close()
