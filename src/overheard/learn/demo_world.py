"""A synthetic world for measuring the loop: households speak requests, reviewers label what was sampled.

Speech is synthesised with espeak-ng in four voices the wake-word model accepts, as "Alexa, <request>",
with a microphone-like noise floor, uploaded and run through the real pipeline (wake word, VAD, ASR,
intent). Review is **simulated**: every sampled clip is claimed and annotated with the true text and
intent, as a perfect reviewer would. The requests come from a grammar of British household phrasings
(rooms, towns, brands the seed requests never mention). The split is by sentence and by household:
each distinct sentence is on the train side or the held-out side, never both; the last household
speaks only held-out sentences, the others only training ones; every recording is pinned to its side.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from ..db import transaction, utcnow
from ..demo import synthesise
from ..households import Device
from ..jobs import claim as claim_job
from ..jobs import run_claimed
from ..platform import Platform
from ..recordings.ingest import ingest
from ..recordings.models import Recording
from ..review.annotations import submit
from ..review.consent import set_human_review
from ..review.content import AnnotationInput
from ..review.policy import ReviewPolicy
from ..review.queue import claim
from ..review.sampler import sample_after_transcription
from ..speech.audio import to_wav_bytes
from .models import SplitName
from .split import pin_split

VOICES = ("en-gb", "en+f4", "en-gb-x-rp", "en+m2")
"""espeak-ng voices whose "Alexa" the bundled wake-word model accepts."""
SPEEDS_WPM = (140, 155, 170)
NOISE_FLOOR = 0.003
"""Noise floor as a share of full scale (about -50 dBFS): no microphone records digital silence."""
HELDOUT_SHARE = 0.25
"""Share of distinct sentences reserved for the held-out side."""
ANNOTATOR = "R-simulated"
SLOTS: dict[str, tuple[str, ...]] = {
    "room": (
        "kitchen",
        "lounge",
        "bedroom",
        "conservatory",
        "hallway",
        "study",
        "landing",
        "utility room",
    ),
    "city": ("leeds", "bristol", "glasgow", "cardiff", "york", "brighton", "norwich", "aberdeen"),
    "day": ("today", "tomorrow", "tonight", "this weekend"),
    "n": ("two", "five", "ten", "fifteen", "twenty", "forty"),
    "food": ("pasta", "eggs", "rice", "the cake", "the potatoes", "the crumpets"),
    "genre": ("jazz", "folk", "classical", "reggae", "brass band"),
    "artist": ("adele", "coldplay", "oasis", "elgar", "the kinks"),
    "item": (
        "teabags",
        "semi skimmed milk",
        "crumpets",
        "washing up liquid",
        "digestives",
        "baked beans",
        "marmite",
    ),
    "time": ("six thirty", "seven", "half past seven", "quarter to eight", "ten past six"),
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "lights_on": (
        "switch on the {room} lights",
        "turn the {room} lights on",
        "put the {room} lamp on",
    ),
    "lights_off": (
        "switch off the {room} lights",
        "turn the {room} lights off",
        "lights off in the {room}",
    ),
    "weather": (
        "what's the weather like in {city} {day}",
        "will it rain in {city} {day}",
        "do i need a brolly in {city} {day}",
    ),
    "timer_set": (
        "set a {n} minute timer for {food}",
        "start a timer for {n} minutes",
        "time {food} for {n} minutes",
    ),
    "music_play": (
        "play some {genre} in the {room}",
        "put on {artist} in the {room}",
        "play {artist}",
    ),
    "shopping_add": (
        "add {item} to the shopping list",
        "put {item} on my list",
        "we've run out of {item}",
    ),
    "alarm_set": ("wake me up at {time} {day}", "set an alarm for {time}", "get me up at {time}"),
    "time_query": ("what time is it in {city}", "what's the time in {city}"),
    "volume": ("turn the volume up", "turn it down a bit", "set the volume to {n}"),
    "music_stop": ("stop the music", "pause the music", "that's enough music thanks"),
}


@dataclass(frozen=True)
class Request:
    """A sentence of the grammar and its intent."""

    text: str
    intent: str


def sentences() -> list[Request]:
    """Every sentence the grammar makes, sorted."""
    found: set[Request] = set()
    for intent, templates in TEMPLATES.items():
        for template in templates:
            names = [n for n in SLOTS if "{" + n + "}" in template]
            for values in itertools.product(*(SLOTS[n] for n in names)):
                found.add(Request(template.format(**dict(zip(names, values, strict=True))), intent))
    return sorted(found, key=lambda r: r.text)


def side_of(text: str) -> SplitName:
    """The side a sentence belongs to, by a hash of its words (so it never moves)."""
    bucket = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32
    return SplitName.HELDOUT if bucket < HELDOUT_SHARE else SplitName.TRAIN


def phrasebook() -> dict[SplitName, list[Request]]:
    """The grammar's sentences by side."""
    book: dict[SplitName, list[Request]] = {SplitName.TRAIN: [], SplitName.HELDOUT: []}
    for request in sentences():
        book[side_of(request.text)].append(request)
    return book


def speak(text: str, rng: random.Random) -> np.ndarray:
    """ "Alexa, <text>" in a random voice and speed, with a noise floor, as 16 kHz int16."""
    voice, speed = rng.choice(VOICES), rng.choice(SPEEDS_WPM)
    pcm = synthesise(f"Alexa, {text}", voice, speed_wpm=speed).astype(np.float64)
    pad = np.zeros(4000)
    noisy = np.concatenate([pad, pcm, pad])
    noisy += np.random.default_rng(rng.randrange(2**32)).normal(0, NOISE_FLOOR * 32767, noisy.size)
    return np.clip(noisy, -32768, 32767).astype(np.int16)


@dataclass
class WorldStats:
    """What building the world did."""

    uploaded: int = 0
    transcribed: int = 0
    reviewed: dict[str, int] = field(default_factory=lambda: {"train": 0, "heldout": 0})
    reasons: dict[str, int] = field(default_factory=dict)


DEMO_POLICY = ReviewPolicy(
    sample_rate=0.7,
    low_confidence_rate=1.0,
    low_confidence_below=0.5,
    household_cap=100_000,
    double_share=0.0,
    gold_share=0.0,
)
"""Everything of low confidence and 70 % of the rest is reviewed (the demo needs labels, not caps)."""


HISTORY = timedelta(days=30)
"""How far back the world's first request is said; its households turned review on before that
(consent covers what is recorded after it is given)."""


class World:
    """Households with devices in a platform, and the loop that speaks, processes and reviews."""

    def __init__(
        self, platform: Platform, households: list[str], devices: list[Device], rng: random.Random
    ) -> None:
        self.platform, self.households, self.devices, self.rng = platform, households, devices, rng
        self.stats = WorldStats()
        self.clock = utcnow() - HISTORY

    @classmethod
    def create(
        cls, platform: Platform, enrol: object, *, households: int = 4, seed: int = 7
    ) -> World:
        """``households`` opted-in households made by ``enrol()`` (returns an enrolment)."""
        ids, devices = [], []
        for _ in range(households):
            done = enrol()  # type: ignore[operator]
            with transaction(platform.sessions) as s:
                consented = utcnow() - HISTORY - timedelta(days=1)
                set_human_review(s, done.household_id, True, actor="customer", now=consented)
                devices.append(s.get_one(Device, done.device_id))
            ids.append(done.household_id)
        return cls(platform, ids, devices, random.Random(seed))  # noqa: S311 (a simulation, not a secret)

    def devices_for(self, side: SplitName) -> list[Device]:
        """The held-out household's device, or the training households' (all of them if only one)."""
        if len(self.devices) < 2:
            return self.devices
        return self.devices[-1:] if side is SplitName.HELDOUT else self.devices[:-1]

    def say(self, request: Request, side: SplitName, pcm: np.ndarray | None = None) -> str | None:
        """Upload one request, run the pipeline, sample; review it if sampled. The recording id if reviewed."""
        devices = self.devices_for(side)
        device = devices[self.rng.randrange(len(devices))]
        self.clock += timedelta(minutes=7)
        audio = pcm if pcm is not None else speak(request.text, self.rng)
        rid = ingest(
            self.platform,
            device,
            to_wav_bytes(audio),
            captured_at=self.clock,
            idempotency_key=uuid.uuid4().hex,
        ).recording.id
        self.stats.uploaded += 1
        while (job := claim_job(self.platform.sessions)) is not None:
            run_claimed(self.platform, job)
        return self._review(rid, request, side)

    def _review(self, rid: str, request: Request, side: SplitName) -> str | None:
        now = self.clock + timedelta(minutes=1)
        with transaction(self.platform.sessions) as s:
            rec = s.get(Recording, rid)
            if rec is None or rec.status != "transcribed":
                return None
            self.stats.transcribed += 1
            pin_split(s, rid, side, now=now)
            task = sample_after_transcription(s, rec, DEMO_POLICY, self.rng, now)
            if task is None:
                return None
            lease = claim(s, ANNOTATOR, DEMO_POLICY, rng=self.rng, now=now)
            assert lease is not None
            answer = AnnotationInput(transcript=f"alexa {request.text}", intent=request.intent)
            submit(s, self.platform.gate, lease.lease_id, ANNOTATOR, answer, DEMO_POLICY, now=now)
        self.stats.reviewed[side.value] += 1
        self.stats.reasons[task.reason] = self.stats.reasons.get(task.reason, 0) + 1
        return rid

    def populate(self, train: int, heldout: int) -> WorldStats:
        """Speak until ``train`` and ``heldout`` clips were reviewed on each side."""
        book = phrasebook()
        for side, wanted in ((SplitName.TRAIN, train), (SplitName.HELDOUT, heldout)):
            for request in self._draws(book[side]):
                if self.stats.reviewed[side.value] >= wanted:
                    break
                self.say(request, side)
        return self.stats

    def _draws(self, requests: list[Request]) -> Iterator[Request]:
        while True:
            yield self.rng.choice(requests)
