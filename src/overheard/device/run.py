"""The device: frames in, wake-word gate, utterances into the sealed queue, delivery behind it.

When the server asks a question (a voice deletion waiting for a spoken yes), the device prints it,
speaks it (:mod:`overheard.device.voice`) and takes its next recording, made before the question's
deadline, as the answer; the server's pipeline decides what that answer says. Once the question
is spoken, until its deadline, that answer may be said without the wake word (the detector's
answer window): the server uses such a clip only as the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from overheard.device.client import DeviceClient, Prompt
from overheard.device.delivery import Event, Uploader
from overheard.device.detector import Detector, Phase, Utterance
from overheard.device.mute import MuteSwitch
from overheard.device.queue import OfflineQueue, load_or_create_key
from overheard.device.state import StateLine
from overheard.device.voice import Voice
from overheard.speech.audio import to_wav_bytes

KEY_FILE_NAME = "device.key"
"""The device key's file, beside the token file."""
QUEUE_DIR_NAME = "queue"
"""The offline queue's folder, beside the token file."""
DRAIN_POLL_S = 0.05
"""How often ``drain`` checks whether delivery is done, seconds."""


@dataclass(frozen=True)
class DeviceFiles:
    """Where a device keeps its state: all beside its token file."""

    token_file: Path

    @property
    def key_file(self) -> Path:
        """The device key (hex, mode 0600)."""
        return self.token_file.parent / KEY_FILE_NAME

    @property
    def queue_dir(self) -> Path:
        """The sealed offline queue."""
        return self.token_file.parent / QUEUE_DIR_NAME

    def token(self) -> str:
        """The device token."""
        return self.token_file.read_text().strip()


class Device:
    """Hears frames, records after the wake word, hands utterances to delivery, shows its state."""

    def __init__(
        self,
        detector: Detector,
        queue: OfflineQueue,
        uploader: Uploader,
        line: StateLine,
        switch: MuteSwitch,
        voice: Voice | None = None,
    ) -> None:
        self.detector, self.queue, self.uploader = detector, queue, uploader
        self.line, self.switch, self.voice = line, switch, voice
        self.utterances: list[Utterance] = []
        """Every utterance recorded, in order."""
        self.asked: Prompt | None = None
        """The question spoken last, while its answer is still to come."""
        self.answers: list[Utterance] = []
        """Utterances recorded as the answer to a question, in order."""
        self._muted_seen = switch.muted
        self._phase = Phase.IDLE
        switch.on_change(self._announce_mute)
        line.update(muted=switch.muted, queued=len(queue))
        uploader.bind(self.delivery_event, self.delivery_busy)
        uploader.report_dropped(queue.unreadable)

    @classmethod
    def open(
        cls,
        server: str,
        files: DeviceFiles,
        *,
        detector: Detector | None = None,
        line: StateLine | None = None,
        switch: MuteSwitch | None = None,
        voice: Voice | None = None,
        max_queue_items: int | None = None,
        uploader_options: dict[str, object] | None = None,
    ) -> Device:
        """A device with its token, key and queue from ``files``, talking to ``server``."""
        queue = OfflineQueue(files.queue_dir, load_or_create_key(files.key_file))
        if max_queue_items is not None:
            queue.max_items = max_queue_items
        line = line or StateLine()
        client = DeviceClient(server, files.token())
        uploader = Uploader(client, queue, **(uploader_options or {}))  # type: ignore[arg-type]
        return cls(detector or Detector(), queue, uploader, line, switch or MuteSwitch(), voice)

    def hear(self, frame: np.ndarray) -> None:
        """One 80 ms frame from the room (ignored entirely while muted)."""
        if self.switch.muted:
            if not self._muted_seen:
                self.detector.reset()  # an utterance in progress is discarded, not sent
                self.detector.answer_until = None  # and no answer is taken without the wake word
                self._muted_seen = True
                self._show_phase()
            return
        self._muted_seen = False
        utterance = self.detector.feed(frame)
        self._show_phase()
        if utterance is not None:
            self.keep(utterance)

    def run(self, frames: Iterable[np.ndarray]) -> None:
        """Hear every frame, then end any utterance in progress."""
        for frame in frames:
            self.hear(frame)
        last = self.detector.flush()
        self._show_phase()
        if last is not None:
            self.keep(last)

    def keep(self, utterance: Utterance) -> None:
        """Seal an utterance into the queue and wake delivery."""
        self.utterances.append(utterance)
        _, dropped = self.queue.put(to_wav_bytes(utterance.pcm), utterance.captured_at)
        heard = (
            "answer heard without the wake word"
            if utterance.answer_only
            else f"wake word heard (score {utterance.wake_score:.2f})"
        )
        self.line.say(
            f"{heard}: recorded "
            f"{utterance.duration_s:.1f} s, ended by {utterance.ended_by.replace('_', ' ')}"
        )
        self._answered(utterance)
        self.uploader.report_dropped(dropped)
        self.line.update(queued=len(self.queue))
        self.uploader.poke()

    def drain(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> bool:
        """Wait until everything is delivered and watched to its end; False on timeout."""
        deadline = clock() + timeout_s
        while not self.uploader.idle():
            if clock() >= deadline:
                return False
            time.sleep(DRAIN_POLL_S)
        return True

    def _answered(self, utterance: Utterance) -> None:
        """The first recording after a question, before its deadline, is its answer."""
        asked, self.asked = self.asked, None
        self.detector.answer_until = None
        if asked is None or utterance.captured_at > asked.answer_by:
            return
        self.answers.append(utterance)
        self.line.say(f'sending it as the answer to "{asked.say}"')

    def delivery_event(self, event: Event) -> None:
        """Show what delivery did (and speak a question the server asks)."""
        self.line.say(event.message)
        if event.prompt is not None:
            self.asked = event.prompt if event.prompt.expects_answer else None
            self.detector.answer_until = None
            if self.voice is not None:
                self.voice.speak(event.prompt.say)
            if self.asked is not None:  # opened once spoken: the question is not its own answer
                self.detector.open_answer_window(self.asked.answer_by)
        tally = self.uploader.tally
        self.line.update(
            queued=len(self.queue),
            sent=tally.sent + tally.replayed,
            refused=tally.refused,
            dropped=tally.dropped + tally.deleted_here,
            offline=self.uploader.offline,
        )

    def delivery_busy(self, busy: bool) -> None:
        """Show an upload in progress."""
        self.line.update(uploading=busy)

    def _show_phase(self) -> None:
        phase = self.detector.phase
        if phase != self._phase:
            self._phase = phase
            self.line.update(listening=phase is Phase.LISTENING)

    def _announce_mute(self, muted: bool) -> None:
        self.line.update(muted=muted)
        if muted:
            self.line.say("muted: not listening at all (press m again, or send SIGUSR1, to unmute)")
        else:
            self.line.say("unmuted: listening for the wake word")
