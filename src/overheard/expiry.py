"""Expiry that does not wait for the next use: a timer that sweeps an in-memory cache of content
or keys, so that what a cache promises to drop after its age is dropped even in a process that has
gone idle (another process's deletion never reaches its memory)."""

from __future__ import annotations

import threading
from collections.abc import Callable

Sweep = Callable[[], float | None]
"""Drops what has expired; returns the seconds until the next entry expires (None: empty)."""


class ExpiryTimer:
    """Runs ``sweep`` when the earliest entry is due, again and again while entries remain.

    At most one daemon timer thread per cache, and only while the cache holds something.
    """

    def __init__(self, sweep: Sweep, *, name: str) -> None:
        self._sweep, self._name = sweep, name
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self, delay_s: float) -> None:
        """Make sure a sweep runs within ``delay_s`` seconds (a pending one may run sooner)."""
        with self._lock:
            if self._timer is not None:
                return
            timer = threading.Timer(max(delay_s, 0.0) + 0.01, self._fire)
            timer.name, timer.daemon = self._name, True
            self._timer = timer
            timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        following = self._sweep()
        if following is not None:
            self.arm(following)
