"""The mute switch: a key press or a signal stops listening entirely, like a speaker's mic button."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

MUTE_KEY = "m"
"""The key that toggles mute when the terminal is interactive."""
MUTE_SIGNAL = signal.SIGUSR1
"""The signal that toggles mute (``kill -USR1 <pid>``)."""
KEY_POLL_S = 0.2
"""How often the key reader checks whether it should stop, seconds."""


class MuteSwitch:
    """Muted or not; every change is announced to the listeners, thread-safe."""

    def __init__(self, muted: bool = False) -> None:
        self._muted = muted
        self._changed = threading.Condition()
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def muted(self) -> bool:
        """Whether listening is switched off."""
        return self._muted

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(muted)`` after every change."""
        self._listeners.append(listener)

    def set(self, muted: bool) -> None:
        """Mute or unmute."""
        with self._changed:
            if muted == self._muted:
                return
            self._muted = muted
            self._changed.notify_all()
        for listener in self._listeners:
            listener(muted)

    def toggle(self) -> None:
        """Flip the switch."""
        self.set(not self._muted)

    def wait_unmuted(self, timeout_s: float) -> bool:
        """Block until unmuted or ``timeout_s`` passed; True when unmuted."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._muted, timeout_s)


def install_signal(switch: MuteSwitch) -> None:
    """Toggle ``switch`` on ``MUTE_SIGNAL`` (main thread only)."""
    signal.signal(MUTE_SIGNAL, lambda _signum, _frame: switch.toggle())


@contextlib.contextmanager
def key_reader(switch: MuteSwitch, stream: TextIO | None = None) -> Iterator[bool]:
    """While inside, the ``m`` key toggles ``switch``; yields False when the input is no terminal."""
    source = stream or sys.stdin
    if not source.isatty():
        yield False
        return
    import select
    import termios
    import tty

    fd = source.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()

    def read_keys() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], KEY_POLL_S)
            if ready and os.read(fd, 1).decode(errors="ignore").lower() == MUTE_KEY:
                switch.toggle()

    tty.setcbreak(fd)
    thread = threading.Thread(target=read_keys, name="overheard-mute-key", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
