"""Many simulated devices against one server, for demos and load tests.

Every simulated device hears a room of its own in real time: silence, and now and then a clip
from the clip folders (Poisson arrivals at ``rate`` clips per second). Each runs the real
:class:`~overheard.device.detector.Detector` on every 80 ms frame, so a clip without the wake word
is never sent, exactly as on a device. Detections are uploaded (with an Idempotency-Key, retried
on failure) by a small pool of senders, so a slow server never stalls the audio.

With ``follow_prompts``, every sent utterance's status is watched for a while (as the reference
device does): a question the server asks (a voice deletion waiting for a spoken yes) is printed,
and when an ``answer`` clip is given, the device plays it into its room next, with its answer
window open (:meth:`~overheard.device.detector.Detector.open_answer_window`), so the scripted answer
is sent without the wake word, before the question's deadline. Nothing is spoken aloud.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from overheard.device.client import Accepted, DeviceClient, Processing, Prompt, Refused, Unreachable
from overheard.device.detector import Detector, DetectorConfig, Phase, Utterance
from overheard.device.frames import FRAME_S, audio_files, frames_of, padded_clip
from overheard.device.queue import Entry
from overheard.speech.audio import read_audio_file, to_wav_bytes
from overheard.speech.wake import FRAME_SAMPLES

SENDERS = 8
"""Upload threads shared by all simulated devices."""
UPLOAD_ATTEMPTS = 4
"""Tries per utterance before it counts as failed."""
RETRY_FIRST_S = 0.5
"""First retry delay, seconds (doubles)."""
SILENCE = "(silence)"
"""Label of detections made while no clip was playing."""
ANSWER = "(answer)"
"""Label of the scripted answer clip."""
WATCH_S = 20.0
"""How long a sent utterance's status is watched for a question, seconds."""
WATCH_EVERY_S = 0.5
"""Seconds between two looks at a watched status."""
WATCHERS = 4
"""Status-watching threads shared by all simulated devices."""


@dataclass(frozen=True)
class SimClip:
    """One clip, ready to play."""

    label: str
    """The clip folder's name, e.g. ``alexa``."""
    name: str
    frames: np.ndarray
    """(n, FRAME_SAMPLES) int16, padded with silence."""


@dataclass
class LabelTally:
    """What happened to the clips of one folder."""

    played: int = 0
    detected: int = 0
    sent: int = 0
    replayed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failed: int = 0


@dataclass
class SimReport:
    """The outcome of a simulation."""

    devices: int
    duration_s: float
    labels: dict[str, LabelTally] = field(default_factory=dict)
    frames: int = 0
    busy_s: float = 0.0
    """Seconds spent in wake word + VAD, all devices together."""
    max_lag_s: float = 0.0
    """Worst delay of a frame behind its real-time slot, seconds."""
    latencies_s: list[float] = field(default_factory=list)
    prompts: list[tuple[int, Prompt]] = field(default_factory=list)
    """Questions (and acknowledgements) the server told the devices: (device, prompt)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tally(self, label: str) -> LabelTally:
        """The tally of a label (created on first use)."""
        return self.labels.setdefault(label, LabelTally())

    def latency_s(self, quantile: float) -> float:
        """Upload latency at ``quantile`` (0..1), seconds; 0 without uploads."""
        if not self.latencies_s:
            return 0.0
        if len(self.latencies_s) == 1:
            return self.latencies_s[0]
        return statistics.quantiles(self.latencies_s, n=100)[max(0, round(quantile * 100) - 1)]


def load_clip(path: Path, label: str) -> SimClip:
    """One audio file, padded with silence, ready to play."""
    frames = np.stack(list(frames_of(padded_clip(read_audio_file(path).pcm))))
    return SimClip(label, path.name, frames)


def load_clips(folders: list[Path], per_folder: int | None, rng: random.Random) -> list[SimClip]:
    """Decode (a random sample of) each folder's audio files, padded with silence."""
    clips = []
    for folder in folders:
        paths = audio_files(folder)
        if per_folder is not None and len(paths) > per_folder:
            paths = sorted(rng.sample(paths, per_folder))
        clips.extend(load_clip(path, folder.name) for path in paths)
    if not clips:
        raise ValueError("no audio files in the clip folders")
    return clips


class _Sender:
    """The shared upload pool."""

    def __init__(
        self,
        report: SimReport,
        say: Callable[[str], None],
        on_sent: Callable[[DeviceClient, int, str], None] = lambda client, device, rid: None,
    ) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(SENDERS, thread_name_prefix="sim-send")
        self._report, self._say, self._on_sent = report, say, on_sent
        self._futures: list[concurrent.futures.Future[None]] = []

    def submit(self, client: DeviceClient, device: int, label: str, utterance: Utterance) -> None:
        with self._report.lock:
            self._report.tally(label).detected += 1
        self._futures.append(self._pool.submit(self._send, client, device, label, utterance))

    def close(self) -> None:
        concurrent.futures.wait(self._futures)
        self._pool.shutdown()

    def _send(self, client: DeviceClient, device: int, label: str, utterance: Utterance) -> None:
        wav = to_wav_bytes(utterance.pcm)
        entry = Entry(0, uuid.uuid4().hex, utterance.captured_at, len(wav))
        started = time.monotonic()
        answer: Accepted | Refused | None = None
        for attempt in range(UPLOAD_ATTEMPTS):
            try:
                answer = client.upload(entry, wav)
                break
            except Unreachable as exc:
                self._say(f"device {device}: upload failed ({exc}); attempt {attempt + 1}")
                time.sleep(max(RETRY_FIRST_S * 2**attempt, exc.retry_after_s or 0.0))
        self._record(device, label, utterance, answer, time.monotonic() - started)
        if isinstance(answer, Accepted) and not answer.replay:
            self._on_sent(client, device, answer.id)

    def _record(
        self, device: int, label: str, utterance: Utterance, answer: Accepted | Refused | None,
        latency_s: float,
    ) -> None:
        with self._report.lock:
            tally = self._report.tally(label)
            if isinstance(answer, Accepted):
                tally.replayed += answer.replay
                tally.sent += not answer.replay
                self._report.latencies_s.append(latency_s)
            elif isinstance(answer, Refused):
                tally.refused[answer.code] += 1
            else:
                tally.failed += 1
        if isinstance(answer, Accepted):
            self._say(f"device {device}: sent {utterance.duration_s:.1f} s ({label}) → {answer.id}")
        elif isinstance(answer, Refused):
            self._say(f"device {device}: refused {label} clip: {answer.status} {answer.code}")
        else:
            self._say(f"device {device}: gave up on a {label} clip after {UPLOAD_ATTEMPTS} tries")


class _Room:
    """The audio one simulated device hears: silence, with clips arriving at Poisson times."""

    def __init__(self, clips: list[SimClip], rate_per_s: float, rng: random.Random) -> None:
        self._clips, self._rate, self._rng = clips, rate_per_s, rng
        self._next_at_s = rng.expovariate(rate_per_s)
        self._playing: SimClip | None = None
        self._position = 0
        self.label = SILENCE
        """Label of the clip playing now."""
        self.finished: list[SimClip] = []
        """Clips played to their end."""

    cued: SimClip | None = None
    """A clip to play as soon as nothing plays (the scripted answer to a question)."""

    def frame(self, at_s: float) -> np.ndarray:
        """The frame heard at ``at_s`` seconds."""
        if self._playing is None and self.cued is not None:
            self._playing, self.cued = self.cued, None
            self._position = 0
        elif self._playing is None and at_s >= self._next_at_s:
            self._playing = self._rng.choice(self._clips)
            self._position = 0
        if self._playing is None:
            self.label = SILENCE
            return np.zeros(FRAME_SAMPLES, np.int16)
        self.label = self._playing.label
        frame = self._playing.frames[self._position]
        self._position += 1
        if self._position == len(self._playing.frames):
            self.finished.append(self._playing)
            self._playing = None
            self._next_at_s = at_s + self._rng.expovariate(self._rate)
        return frame


class _Watcher:
    """Watches sent utterances' statuses for questions; cues the scripted answer."""

    def __init__(
        self,
        report: SimReport,
        say: Callable[[str], None],
        answer: SimClip | None,
        until: float,
    ) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(WATCHERS, thread_name_prefix="sim-watch")
        self._report, self._say, self._answer, self._until = report, say, answer, until
        self.devices: dict[int, tuple[_Room, Detector]] = {}
        self._futures: list[concurrent.futures.Future[None]] = []

    def watch(self, client: DeviceClient, device: int, recording_id: str) -> None:
        self._futures.append(self._pool.submit(self._watch, client, device, recording_id))

    def close(self) -> None:
        concurrent.futures.wait(self._futures)
        self._pool.shutdown()

    def _watch(self, client: DeviceClient, device: int, recording_id: str) -> None:
        deadline = min(time.monotonic() + WATCH_S, self._until)
        told: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            with contextlib.suppress(Unreachable):
                status = client.status(recording_id)
                if not isinstance(status, Processing):
                    return  # deleted or unknown: nothing more to hear about it
                prompt = status.prompt
                if prompt is not None and (prompt.kind, prompt.about) not in told:
                    told.add((prompt.kind, prompt.about))
                    self._heard(device, prompt)
                    if not prompt.expects_answer:
                        return
            # a settled status is watched on: the pipeline asks its question after processing
            time.sleep(WATCH_EVERY_S)

    def _heard(self, device: int, prompt: Prompt) -> None:
        with self._report.lock:
            self._report.prompts.append((device, prompt))
        verb = "asks" if prompt.expects_answer else "says"
        self._say(f'device {device} {verb}: "{prompt.say}"')
        if not prompt.expects_answer or self._answer is None or device not in self.devices:
            return
        room, detector = self.devices[device]
        detector.open_answer_window(prompt.answer_by)
        room.cued = self._answer
        self._say(f"device {device}: answering with {self._answer.name}, without the wake word")


def _device_loop(
    index: int, client: DeviceClient, room: _Room, detector: Detector, sender: _Sender,
    report: SimReport, duration_s: float,
) -> None:
    start = time.monotonic()
    frames, busy, worst_lag, label = 0, 0.0, 0.0, SILENCE
    while (at_s := frames * FRAME_S) < duration_s:
        delay = start + at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        worst_lag = max(worst_lag, -delay)
        frame = room.frame(at_s)
        began = time.perf_counter()
        utterance = detector.feed(frame)
        busy += time.perf_counter() - began
        frames += 1
        if detector.phase is Phase.LISTENING and utterance is None and label == SILENCE:
            label = room.label
        if utterance is not None:
            sender.submit(client, index, label, utterance)
            label = SILENCE
    with report.lock:
        report.frames += frames
        report.busy_s += busy
        report.max_lag_s = max(report.max_lag_s, worst_lag)
        for clip in room.finished:
            report.tally(clip.label).played += 1


def simulate(
    server: str,
    tokens: list[str],
    clips: list[SimClip],
    *,
    rate_per_s: float,
    duration_s: float,
    seed: int = 0,
    config: DetectorConfig | None = None,
    say: Callable[[str], None] = lambda message: None,
    follow_prompts: bool = False,
    answer: SimClip | None = None,
) -> SimReport:
    """Run one simulated device per token for ``duration_s`` seconds of real time; with
    ``follow_prompts``, print the questions the server asks and answer them with ``answer``."""
    report = SimReport(devices=len(tokens), duration_s=duration_s)
    watcher = _Watcher(report, say, answer, time.monotonic() + duration_s)
    sender = _Sender(report, say, watcher.watch if follow_prompts else _ignore)
    clients = [DeviceClient(server, token) for token in tokens]
    threads = []
    for index, client in enumerate(clients):
        room = _Room(clips, rate_per_s, random.Random(seed * 100_003 + index))  # noqa: S311 (not security)
        detector = Detector(config or DetectorConfig())
        watcher.devices[index] = (room, detector)
        args = (index, client, room, detector, sender, report, duration_s)
        threads.append(threading.Thread(target=_device_loop, args=args, name=f"sim-device-{index}"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.close()
    watcher.close()
    for client in clients:
        client.close()
    return report



def _ignore(client: DeviceClient, device: int, recording_id: str) -> None:
    """Statuses are not watched."""
