"""The device's voice: the server's questions spoken to the room, synthesised offline by espeak-ng.

Speaking is optional. The question is always printed on the console line first; without espeak-ng,
or without an audio output (PortAudio through ``sounddevice``, imported only when needed), the
device says once why it stays silent and goes on printing. ``keep_dir`` also keeps every spoken
question as a WAV file (for a device run on files, where nobody listens).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENGINE = "espeak-ng"
"""The offline speech synthesiser (``apt-get install espeak-ng``)."""
VOICE = "en-gb"
"""espeak-ng voice."""
MAX_TEXT_CHARS = 400
"""Longest text spoken; a longer one is cut."""
SYNTH_TIMEOUT_S = 20.0
"""Longest synthesis of one question, seconds."""
MISSING_ENGINE = (
    "espeak-ng is not installed (apt-get install espeak-ng): the device's questions are printed "
    "only, not spoken"
)


class Silent(Exception):
    """The question could not be made audible."""


class Voice:
    """Speaks text with espeak-ng; tells ``note`` once why it cannot."""

    def __init__(
        self,
        note: Callable[[str], None],
        *,
        engine: str | None = ENGINE,
        voice: str = VOICE,
        play: Callable[[bytes], None] | None = None,
        keep_dir: Path | None = None,
    ) -> None:
        self._note = note
        self.engine = shutil.which(engine) if engine else None
        """The synthesiser's path; None when it is not installed."""
        self._voice, self._play = voice, play or play_portaudio
        self._keep_dir = keep_dir
        self._silenced: set[str] = set()
        self.spoken: list[Path] = []
        """Files of the questions kept in ``keep_dir``, in order."""

    def speak(self, text: str) -> bytes | None:
        """Synthesise ``text`` and play it; returns the WAV (None when it could not be made)."""
        try:
            wav = self.synthesise(text)
        except Silent as exc:
            self._once(str(exc))
            return None
        self._keep(wav)
        try:
            self._play(wav)
        except Silent as exc:
            self._once(str(exc))
        return wav

    def synthesise(self, text: str) -> bytes:
        """``text`` as WAV bytes (espeak-ng's own rate, mono, 16 bit)."""
        if self.engine is None:
            raise Silent(MISSING_ENGINE)
        try:
            # The text goes in on stdin: words from the network never become options.
            done = subprocess.run(
                [self.engine, "-v", self._voice, "--stdout"],
                input=text[:MAX_TEXT_CHARS].encode(),
                capture_output=True,
                check=True,
                timeout=SYNTH_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise Silent(f"espeak-ng failed ({exc}): the question is printed only") from exc
        return done.stdout

    def _keep(self, wav: bytes) -> None:
        if self._keep_dir is None:
            return
        self._keep_dir.mkdir(parents=True, exist_ok=True)
        path = self._keep_dir / f"question-{len(self.spoken) + 1:03d}.wav"
        path.write_bytes(wav)
        self.spoken.append(path)

    def _once(self, message: str) -> None:
        if message not in self._silenced:
            self._silenced.add(message)
            self._note(message)


def pcm_of(wav: bytes) -> tuple[np.ndarray, int]:
    """The int16 samples of a mono 16-bit WAV, and its rate in Hertz."""
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        # espeak-ng writes an unknown length into the header when it writes to a pipe.
        frames = reader.readframes(2**31 - 1)
    return np.frombuffer(frames, dtype="<i2"), rate


def play_portaudio(wav: bytes) -> None:
    """Play a WAV on the default output and wait until it has been heard."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise Silent(
            "no audio output: speaking needs PortAudio and sounddevice (apt-get install "
            f"libportaudio2; pip install sounddevice); the question is printed only ({exc})"
        ) from exc
    pcm, rate = pcm_of(wav)
    try:
        sounddevice.play(pcm, rate)
        sounddevice.wait()
    except sounddevice.PortAudioError as exc:
        raise Silent(f"no audio output ({exc}); the question is printed only") from exc
