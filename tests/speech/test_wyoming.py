"""`overheard wyoming` speaks the Wyoming ASR protocol: tested with the wyoming client over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info

from overheard.config import Settings
from overheard.db import transaction
from overheard.demo import espeak_available, synthesise
from overheard.households import Device, revoke_device
from overheard.platform import Platform
from overheard.recordings.models import Recording
from overheard.wyoming_asr import serve_wyoming
from tests.test_live_server import free_port, stop_process

pytestmark = pytest.mark.slow
RATE_HZ = 22050
"""Sent at another rate than the server's 16 kHz, in stereo, to exercise the conversion."""


def enrol_device(data_dir: Path, env: dict[str, str]) -> str:
    import json

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "overheard",
            "households",
            "add",
            "--name",
            "Hal",
            "--account",
            "A-3",
            "--email",
            "hal@example.org",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)["device_id"]


async def ask(uri: str, pcm: np.ndarray) -> tuple[Info, str]:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        info_event = await client.read_event()
    stereo = np.repeat(pcm[:, None], 2, axis=1).tobytes()
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=RATE_HZ, width=2, channels=2).event())
        for at in range(0, len(stereo), 4096):
            chunk = AudioChunk(rate=RATE_HZ, width=2, channels=2, audio=stereo[at : at + 4096])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            assert event is not None
            if Transcript.is_type(event.type):
                return Info.from_event(info_event), Transcript.from_event(event).text


def test_wyoming_transcribes_and_stores(tmp_path: Path, database_url: str):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    from scipy.signal import resample_poly

    data_dir = tmp_path / "data"
    env = {**os.environ, "OVERHEARD_DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        capture_output=True,
    )
    device_id = enrol_device(data_dir, env)
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    with (tmp_path / "wyoming.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "overheard",
                "wyoming",
                "--uri",
                uri,
                "--device",
                device_id,
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        speech = synthesise("turn on the lights in the kitchen", "en-gb")
        pcm = np.clip(resample_poly(speech.astype(float), RATE_HZ, 16000), -32768, 32767)
        deadline = time.monotonic() + 180
        while True:
            try:
                info, text = asyncio.run(ask(uri, pcm.astype(np.int16)))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        stop_process(proc)
    assert info.asr and info.asr[0].models[0].languages == ["en"]
    assert "lights" in text.split()
    platform = Platform.open(Settings(data_dir=data_dir, database_url=database_url).resolved())
    try:
        with platform.sessions() as s:
            stored = s.scalars(select(Recording).where(Recording.device_id == device_id)).all()
    finally:
        platform.close()
    assert len(stored) == 1
    assert abs(stored[0].duration_s - speech.size / 16000) < 0.05


async def answer_of(uri: str, pcm: np.ndarray) -> Event:
    """What the service at ``uri`` answers one utterance of 16 kHz mono ``pcm`` with."""
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await client.write_event(
            AudioChunk(rate=16000, width=2, channels=1, audio=pcm.tobytes()).event()
        )
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            assert event is not None
            if Transcript.is_type(event.type) or Error.is_type(event.type):
                return event


async def ask_running_service(platform: Platform, device: Device, pcm: np.ndarray) -> Event:
    uri = f"tcp://127.0.0.1:{free_port()}"
    service = asyncio.create_task(serve_wyoming(platform, device, uri))
    try:
        for _ in range(100):
            try:
                return await answer_of(uri, pcm)
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError("the Wyoming service did not start")
    finally:
        service.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await service


def test_a_device_revoked_while_the_service_runs_gets_an_error_and_no_text(
    platform, make_household
):  # type: ignore[no-untyped-def]
    """The service looks its device up once, at start: once that device is revoked (or removed),
    an utterance gets a Wyoming error, never the recogniser's text, and nothing is stored."""
    hh = make_household()
    with platform.sessions() as s:
        device = s.get_one(Device, hh.device_id)  # as `overheard wyoming` holds it from its start
    with transaction(platform.sessions) as s:
        revoke_device(s, hh.device_id)
    answer = asyncio.run(ask_running_service(platform, device, np.zeros(16000, np.int16)))
    assert Error.is_type(answer.type), answer
    assert Error.from_event(answer).code == "invalid_token"
    with platform.sessions() as s:
        assert s.scalars(select(Recording).where(Recording.device_id == device.id)).all() == []


def revoke_once_stored(platform: Platform, device_id: str, stop: threading.Event) -> None:
    """Revoke ``device_id`` as soon as its utterance is stored, while it is being recognised."""
    while not stop.is_set():
        with platform.sessions() as s:
            stored = s.scalars(select(Recording.id).where(Recording.device_id == device_id)).all()
        if stored:
            with transaction(platform.sessions) as s:
                revoke_device(s, device_id)
            return
        time.sleep(0.01)


def test_a_device_revoked_while_its_utterance_is_recognised_gets_no_text(platform, make_household):  # type: ignore[no-untyped-def]
    """A device revoked after ``ingest`` read it, while the recogniser works on its utterance, gets
    a Wyoming error, not the text: the device is read again once the words are known."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    hh = make_household()
    with platform.sessions() as s:
        device = s.get_one(Device, hh.device_id)
    speech = synthesise("turn on the lights in the kitchen and play some music please", "en-gb")
    stop = threading.Event()
    revoker = threading.Thread(target=revoke_once_stored, args=(platform, device.id, stop))
    revoker.start()
    try:
        answer = asyncio.run(ask_running_service(platform, device, speech.astype(np.int16)))
    finally:
        stop.set()
        revoker.join()
    with platform.sessions() as s:
        assert s.get_one(Device, device.id).revoked_at is not None
        assert len(s.scalars(select(Recording).where(Recording.device_id == device.id)).all()) == 1
    assert Error.is_type(answer.type), answer
    assert Error.from_event(answer).code == "invalid_token"
