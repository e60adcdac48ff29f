"""Overheard as a Wyoming speech-to-text service, so a Home Assistant voice pipeline can use it.

describe -> info; transcribe + audio-start/chunk/stop -> transcript. What arrives is also ingested as
a recording of one configured device, so it is sealed, audited and processed like any other upload.
Home Assistant strips the wake word before speech-to-text, so the server's own wake-word check finds
none and such recordings end ``accidental``: never reviewed, audio purged. That is the safe default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info
from wyoming.server import AsyncEventHandler, AsyncServer

from . import __version__
from .errors import OverheardError, Unauthorized
from .households import Device, still_active
from .platform import Platform
from .recordings.ingest import ingest
from .speech.asr import DEFAULT_SPEC
from .speech.audio import SAMPLE_RATE_HZ, to_wav_bytes
from .speech.pipeline import SpeechStack, stack_for
from .speech.vad import speech_segments, trim_silence

log = logging.getLogger(__name__)

SAMPLE_WIDTH_BYTES = 2
LANGUAGES = ["en"]


def describe_info(url: str, asr_spec: str = DEFAULT_SPEC) -> Info:
    """What this service offers: the recogniser ``asr_spec`` names; ``url`` is where it is reached."""
    attribution = Attribution(name="Overheard", url=url)
    model = AsrModel(
        name=asr_spec,
        attribution=attribution,
        installed=True,
        description=f"Overheard's speech recogniser ({asr_spec}; docs/models/asr.md)",
        version=__version__,
        languages=LANGUAGES,
    )
    program = AsrProgram(
        name="overheard",
        attribution=attribution,
        installed=True,
        description="Overheard speech-to-text",
        version=__version__,
        models=[model],
    )
    return Info(asr=[program])


@dataclass
class Utterance:
    """Audio of one transcribe request, converted to 16 kHz mono PCM16 as it arrives."""

    max_bytes: int
    converter: AudioChunkConverter
    data: bytearray

    @classmethod
    def start(cls, max_seconds: float) -> Utterance:
        converter = AudioChunkConverter(rate=SAMPLE_RATE_HZ, width=SAMPLE_WIDTH_BYTES, channels=1)
        return cls(int(max_seconds * SAMPLE_RATE_HZ * SAMPLE_WIDTH_BYTES), converter, bytearray())

    def add(self, chunk: AudioChunk) -> None:
        """Append a chunk; audio past ``max_bytes`` is dropped."""
        room = self.max_bytes - len(self.data)
        if room > 0:
            self.data += self.converter.convert(chunk).audio[:room]

    @property
    def pcm(self) -> np.ndarray:
        """The audio so far."""
        return np.frombuffer(bytes(self.data[: len(self.data) // 2 * 2]), dtype=np.int16)


def transcribe_and_store(platform: Platform, device: Device, pcm: np.ndarray) -> str:
    """Store the utterance as a recording of ``device`` and return the recogniser's text;
    Unauthorized, and no text, for a device revoked or removed since the service started, or
    while its utterance was being recognised."""
    try:
        ingest(platform, device, to_wav_bytes(pcm))
    except Unauthorized:
        raise  # ingest reads the device again first: a revoked one gets no transcript either
    except OverheardError as exc:  # e.g. empty audio: nothing to store, still answer
        log.info("wyoming audio not stored: %s", exc.code)
    stack: SpeechStack = stack_for(platform)
    segments = speech_segments(pcm, stack.vad)
    text = stack.asr.transcribe(trim_silence(pcm, segments)).text if segments else ""
    with platform.readers() as session:  # recognising takes seconds: the device is read again
        still_active(session, device.id)
    return text


class AsrHandler(AsyncEventHandler):
    """One Wyoming client connection."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        work: Callable[[np.ndarray], str],
        max_seconds: float,
        url: str,
        asr_spec: str,
        *args,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.work, self.max_seconds, self.url = work, max_seconds, url
        self.asr_spec = asr_spec
        self.utterance: Utterance | None = None

    async def handle_event(self, event: Event) -> bool:
        """React to one event; False closes the connection."""
        if Describe.is_type(event.type):
            await self.write_event(describe_info(self.url, self.asr_spec).event())
            return True
        if Transcribe.is_type(event.type) or AudioStart.is_type(event.type):
            self.utterance = self.utterance or Utterance.start(self.max_seconds)
            return True
        if AudioChunk.is_type(event.type):
            self.utterance = self.utterance or Utterance.start(self.max_seconds)
            self.utterance.add(AudioChunk.from_event(event))
            return True
        if AudioStop.is_type(event.type):
            pcm = self.utterance.pcm if self.utterance else np.zeros(0, np.int16)
            self.utterance = None
            try:
                text = await asyncio.get_running_loop().run_in_executor(None, self.work, pcm)
            except Unauthorized as exc:
                await self.write_event(Error(text=exc.message, code=exc.code).event())
                return False
            await self.write_event(Transcript(text=text).event())
            return False
        return True


async def serve_wyoming(platform: Platform, device: Device, uri: str) -> None:
    """Serve the Wyoming ASR protocol on ``uri`` (e.g. ``tcp://127.0.0.1:10300``) until cancelled."""
    server = AsyncServer.from_uri(uri)
    work = partial(transcribe_and_store, platform, device)
    settings = platform.settings
    handler = partial(AsrHandler, work, settings.max_clip_seconds, settings.base_url, settings.asr)
    await server.run(handler)
