"""The state line: what the device is doing, like the light ring on a speaker.

On a terminal it is one line rewritten in place, with messages printed above it; elsewhere (a log,
a pipe) every change of state and every message is one line of its own.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TextIO

CLEAR_LINE = "\r\x1b[2K"


class Light(StrEnum):
    """The state shown to the people in the room."""

    IDLE = "idle"
    """Waiting for the wake word; nothing is kept."""
    LISTENING = "listening"
    """The wake word was heard: recording until speech ends."""
    UPLOADING = "uploading"
    """Sending a recording."""
    MUTED = "muted"
    """Not listening at all."""
    OFFLINE = "offline"
    """The server cannot be reached; recordings wait, sealed, in the queue."""


SYMBOLS = {
    Light.IDLE: "○",
    Light.LISTENING: "◉",
    Light.UPLOADING: "↑",
    Light.MUTED: "✕",
    Light.OFFLINE: "◌",
}


@dataclass(frozen=True)
class Snapshot:
    """Everything the line shows."""

    muted: bool = False
    listening: bool = False
    uploading: bool = False
    offline: bool = False
    queued: int = 0
    sent: int = 0
    refused: int = 0
    dropped: int = 0

    @property
    def light(self) -> Light:
        """Muted wins; then listening (people are being recorded), uploading, offline, idle."""
        if self.muted:
            return Light.MUTED
        if self.listening:
            return Light.LISTENING
        if self.uploading:
            return Light.UPLOADING
        return Light.OFFLINE if self.offline else Light.IDLE


def render(snapshot: Snapshot) -> str:
    """The state line's text."""
    light = snapshot.light
    return (
        f"{SYMBOLS[light]} {light.value:<9} queued {snapshot.queued}  sent {snapshot.sent}  "
        f"refused {snapshot.refused}  dropped {snapshot.dropped}"
    )


class StateLine:
    """Shows snapshots and messages on ``out``; thread-safe."""

    def __init__(self, out: TextIO | None = None, *, live: bool | None = None) -> None:
        self._out = out or sys.stderr
        self._live = self._out.isatty() if live is None else live
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self._shown: Light | None = None
        self.history: list[Light] = []
        """Every light shown, in order (what a camera on the light ring would have seen)."""

    @property
    def snapshot(self) -> Snapshot:
        """What is shown now."""
        return self._snapshot

    def update(self, **changes: object) -> None:
        """Change some fields of the snapshot and redraw."""
        with self._lock:
            self._snapshot = Snapshot(**{**self._snapshot.__dict__, **changes})  # type: ignore[arg-type]
            self._draw()

    def say(self, message: str) -> None:
        """Print a message above the state line."""
        with self._lock:
            stamp = datetime.now().strftime("%H:%M:%S")
            if self._live:
                self._out.write(f"{CLEAR_LINE}{stamp} {message}\n{render(self._snapshot)}")
            else:
                self._out.write(f"{stamp} {message}\n")
            self._out.flush()

    def close(self) -> None:
        """End the line (leave the cursor on a fresh line)."""
        with self._lock:
            if self._live:
                self._out.write("\n")
                self._out.flush()

    def _draw(self) -> None:
        light = self._snapshot.light
        if light != self._shown:
            self.history.append(light)
        if self._live:
            self._out.write(CLEAR_LINE + render(self._snapshot))
        elif light != self._shown:
            self._out.write(f"state: {render(self._snapshot)}\n")
        self._shown = light
        self._out.flush()
