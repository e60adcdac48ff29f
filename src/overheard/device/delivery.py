"""Delivery: drain the offline queue to the server, exactly once, and learn of deletions.

One thread does everything that talks to the network, in this order on every round:
1. ask about recently delivered utterances (a 410 says a deletion removed them; the queue is then
   cleared of whatever that deletion covers, *before* any backlog is sent; an answer may carry a
   question the device is to speak, told once as a ``question`` event);
2. send the oldest queued utterance, with the idempotency key it was given when recorded.
Anything that fails for now backs off exponentially (with jitter) and retries the same request, so
a lost answer is resent with the same key and the server stores it once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from overheard.device.client import (
    Accepted,
    Deletion,
    DeviceClient,
    Prompt,
    Refused,
    Unreachable,
)
from overheard.device.queue import Dropped, Entry, OfflineQueue

BACKOFF_FIRST_S = 0.5
"""First retry delay, seconds; doubles on every consecutive failure."""
BACKOFF_MAX_S = 30.0
"""Longest retry delay, seconds."""
POLL_S = 1.0
"""How often a delivered utterance's status is asked for, seconds."""
WATCH_S = 120.0
"""How long a delivered utterance is watched for a deletion, seconds."""
SETTLED_GRACE_S = 3.0
"""How long a settled utterance is still watched: a voice command is deleted just after it is
transcribed, by the same job, seconds."""
SCOPE_WORDS = {
    "voice_last": "what you just said",
    "voice_today": "everything you said today",
    "everything": "everything your household recorded",
    "range": "recordings in a time range",
    "one": "one recording",
    "retention": "recordings past their retention",
    "restore_reapply": "a deletion made again after a restore",
}


@dataclass(frozen=True)
class Event:
    """Something the user should be told."""

    kind: str
    """``sent``, ``replayed``, ``refused``, ``dropped``, ``deleted``, ``offline``, ``online``,
    ``settled``, ``question``."""
    message: str
    prompt: Prompt | None = None
    """With ``question``: what the server asks the device to speak."""


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``rng`` injectable."""

    first_s: float = BACKOFF_FIRST_S
    max_s: float = BACKOFF_MAX_S
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay_s(self) -> float:
        """The wait before the next attempt after one more failure, seconds."""
        self.failures += 1
        ceiling = min(self.max_s, self.first_s * 2 ** (self.failures - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def succeeded(self) -> None:
        """Start again from the shortest delay."""
        self.failures = 0


@dataclass
class _Watched:
    """A delivered utterance whose fate is still open."""

    id: str
    captured_at: datetime
    until: float
    """Monotonic time after which it is no longer asked about."""
    next_poll: float = 0.0
    settled: bool = False
    answers: bool = False
    """Captured while a question was open: watched its full time even once settled, because the
    deletion a yes confirms follows after the server's undo period."""


@dataclass
class Tally:
    """What delivery has done so far."""

    sent: int = 0
    replayed: int = 0
    refused: int = 0
    dropped: int = 0
    deleted_here: int = 0
    """Queued utterances cleared because a deletion covered them."""
    deletions: list[Deletion] = field(default_factory=list)
    delivered_ids: list[str] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    """Questions the server asked this device to speak, in order."""


class Uploader:
    """Delivers the queue on a background thread; ``step`` is one round (for tests and tools)."""

    def __init__(
        self,
        client: DeviceClient,
        queue: OfflineQueue,
        *,
        notify: Callable[[Event], None] = lambda event: None,
        on_busy: Callable[[bool], None] = lambda busy: None,
        backoff: Backoff | None = None,
        poll_s: float = POLL_S,
        watch_s: float = WATCH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.queue = client, queue
        self.tally = Tally()
        self.offline = False
        self._notify, self._on_busy = notify, on_busy
        self._backoff = backoff or Backoff()
        self._poll_s, self._watch_s, self._clock = poll_s, watch_s, clock
        self._watched: dict[str, _Watched] = {}
        self._handled_receipts: set[str] = set()
        self._told: set[tuple[str, str]] = set()
        self._answer_by: datetime | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def bind(
        self, notify: Callable[[Event], None], on_busy: Callable[[bool], None]
    ) -> None:
        """Send events and busy changes to these callables from now on."""
        self._notify, self._on_busy = notify, on_busy

    @property
    def watching(self) -> int:
        """Delivered utterances still being asked about."""
        return len(self._watched)

    def start(self) -> None:
        """Run rounds on a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="overheard-uploader", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something was queued: try now rather than after the current wait."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current request."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def idle(self) -> bool:
        """Nothing queued and nothing left to ask about."""
        return len(self.queue) == 0 and not self._watched

    def step(self) -> float:
        """One round; returns how long to wait before the next, seconds (raises nothing)."""
        try:
            self._poll_due()
            sent = self._deliver_head()
        except Unreachable as exc:
            self._went_offline(str(exc))
            # The server's Retry-After is a floor: a busy fleet must not come back all at once.
            return max(self._backoff.next_delay_s(), exc.retry_after_s or 0.0)
        if self.offline:
            self.offline = False
            self._notify(Event("online", "server reachable again"))
        self._backoff.succeeded()
        return 0.0 if sent else self._next_poll_in()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.step()
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()

    def _next_poll_in(self) -> float:
        if not self._watched:
            return self._poll_s
        soonest = min(w.next_poll for w in self._watched.values())
        return max(0.0, min(self._poll_s, soonest - self._clock()))

    def _went_offline(self, reason: str) -> None:
        if not self.offline:
            self.offline = True
            self._notify(Event("offline", f"offline: {reason}; {len(self.queue)} queued, will retry"))

    def _deliver_head(self) -> bool:
        head = self.queue.head()
        if head is None:
            return False
        entry, wav = head
        self._on_busy(True)
        try:
            answer = self.client.upload(entry, wav)
        finally:
            self._on_busy(False)
        self.queue.remove(entry.seq)
        if isinstance(answer, Refused):
            self.tally.refused += 1
            self._notify(Event("refused", f"refused by the server ({answer.status} {answer.code}): "
                               f"{answer.message}; recording of {_clock_time(entry)} discarded"))
            return True
        self._delivered(entry, answer)
        return True

    def _delivered(self, entry: Entry, answer: Accepted) -> None:
        if answer.replay:
            self.tally.replayed += 1
        else:
            self.tally.sent += 1
        self.tally.delivered_ids.append(answer.id)
        now = self._clock()
        answers = self._answer_by is not None and entry.captured_at <= self._answer_by
        self._watched[answer.id] = _Watched(
            answer.id, entry.captured_at, now + self._watch_s, now, answers=answers
        )
        kind = "replayed" if answer.replay else "sent"
        what = "already there" if answer.replay else "sent"
        self._notify(Event(kind, f"{what}: {answer.duration_s:.1f} s recorded at "
                           f"{_clock_time(entry)} → {answer.id}"))

    def _poll_due(self) -> None:
        now = self._clock()
        for watched in list(self._watched.values()):
            if watched.until < now:
                self._watched.pop(watched.id, None)
            elif watched.next_poll <= now and watched.id in self._watched:
                self._poll(watched, now)

    def _poll(self, watched: _Watched, now: float) -> None:
        answer = self.client.status(watched.id)
        if isinstance(answer, Deletion):
            self._watched.pop(watched.id, None)
            self._deleted(answer, watched)
            return
        if answer is None:
            self._watched.pop(watched.id, None)
            return
        if answer.prompt is not None:
            self._asked(answer.prompt)
        if answer.settled and not watched.settled:
            watched.settled = True
            if not watched.answers:
                watched.until = min(watched.until, now + SETTLED_GRACE_S)
            self._notify(Event("settled", f"{answer.id}: {answer.status}"))
        watched.next_poll = now + self._poll_s

    def _asked(self, prompt: Prompt) -> None:
        """A question to speak: told once (the server shows it on every poll until answered)."""
        if (prompt.about, prompt.kind) in self._told:
            return
        self._told.add((prompt.about, prompt.kind))
        self.tally.prompts.append(prompt)
        if not prompt.expects_answer:
            self._answer_by = None
            self._notify(Event("question", f'says: "{prompt.say}"', prompt))
            return
        self._answer_by = prompt.answer_by
        by = prompt.answer_by.astimezone().strftime("%H:%M:%S")
        self._notify(Event("question", f'asks: "{prompt.say}" (answer by {by}: the wake word, '
                           "then yes)", prompt))

    def _deleted(self, deletion: Deletion, seen_on: _Watched) -> None:
        if deletion.receipt_id in self._handled_receipts:
            return
        self._handled_receipts.add(deletion.receipt_id)
        self.tally.deletions.append(deletion)
        cleared = self._clear_covered(deletion, seen_on)
        what = SCOPE_WORDS.get(deletion.kind, deletion.kind)
        here = f"; {len(cleared)} queued recording(s) cleared on this device" if cleared else ""
        self._notify(Event("deleted", f"deleted on your request: {what} "
                           f"(receipt {deletion.receipt_id[:12]}){here}"))

    def _clear_covered(self, deletion: Deletion, seen_on: _Watched) -> list[Dropped]:
        """Drop queued utterances the deletion covers: from its start up to its command.

        A command from another device is not known here; the deletion time bounds it then, which
        errs towards deleting more, but never past the span's own end (a "today" carried out after
        midnight leaves the next day's utterances queued, as the server keeps them).
        """
        if deletion.kind not in ("voice_last", "voice_today", "everything"):
            return []
        command = seen_on if deletion.command == seen_on.id else None
        if command is None and deletion.command:
            command = self._watched.pop(deletion.command, None)
        until = command.captured_at if command is not None else deletion.deleted_at
        if deletion.until is not None:
            until = min(until, deletion.until - timedelta(microseconds=1))  # [since, until)
        since = deletion.since or datetime.min.replace(tzinfo=UTC)
        for watched in list(self._watched.values()):
            if since <= watched.captured_at <= until:
                self._watched.pop(watched.id, None)
        cleared = self.queue.drop_between(since, until, "deleted")
        self.tally.deleted_here += len(cleared)
        return cleared

    def report_dropped(self, dropped: list[Dropped]) -> None:
        """Tell the user about utterances the queue let go."""
        for item in dropped:
            self.tally.dropped += 1
            self._notify(Event("dropped", f"queue full ({self.queue.max_items} items / "
                               f"{self.queue.max_bytes} bytes): dropped the recording of "
                               f"{_clock_time(item.entry)} ({item.entry.size_bytes} bytes)"))


def _clock_time(entry: Entry) -> str:
    return entry.captured_at.astimezone().strftime("%H:%M:%S")
