"""The light ring and the mute switch, on a device that hears real clips."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from overheard.device.client import DeviceClient
from overheard.device.delivery import Uploader
from overheard.device.detector import Detector, Phase
from overheard.device.frames import file_frames
from overheard.device.mute import MuteSwitch
from overheard.device.queue import OfflineQueue, load_or_create_key
from overheard.device.run import Device
from overheard.device.state import Light, Snapshot, StateLine, render


@pytest.mark.parametrize(
    ("snapshot", "light"),
    [
        (Snapshot(), Light.IDLE),
        (Snapshot(listening=True, offline=True), Light.LISTENING),
        (Snapshot(uploading=True), Light.UPLOADING),
        (Snapshot(offline=True), Light.OFFLINE),
        (Snapshot(muted=True, listening=True, uploading=True), Light.MUTED),
    ],
)
def test_light_precedence(snapshot: Snapshot, light: Light):
    assert snapshot.light is light and light.value in render(snapshot)


def test_live_line_is_rewritten_in_place_and_messages_go_above():
    out = io.StringIO()
    line = StateLine(out, live=True)
    line.update(queued=2)
    line.say("hello")
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 2 and "hello\n" in text and text.endswith(render(line.snapshot))


def quiet_device(tmp_path: Path, switch: MuteSwitch) -> Device:
    queue = OfflineQueue(tmp_path / "queue", load_or_create_key(tmp_path / "device.key"))
    uploader = Uploader(DeviceClient("http://127.0.0.1:9", "unused"), queue)
    return Device(Detector(), queue, uploader, StateLine(io.StringIO(), live=False), switch)


@pytest.mark.data
def test_muting_mid_utterance_discards_it_and_says_so(shared_data: Path, tmp_path: Path):
    switch = MuteSwitch()
    device = quiet_device(tmp_path, switch)
    frames = list(file_frames([shared_data / "wakeword" / "alexa" / "0.flac"]))
    for frame in frames:
        device.hear(frame)
        if device.detector.phase is Phase.LISTENING and not switch.muted:
            switch.toggle()
    switch.toggle()
    device.run(iter(()))
    assert device.utterances == [] and len(device.queue) == 0
    assert device.line.history == [Light.IDLE, Light.LISTENING, Light.MUTED, Light.IDLE]
    said = device.line._out.getvalue()  # type: ignore[attr-defined]
    assert "muted: not listening at all" in said and "unmuted" in said
    device.uploader.client.close()


@pytest.mark.data
def test_offline_device_keeps_its_recordings_sealed(shared_data: Path, tmp_path: Path):
    device = quiet_device(tmp_path, MuteSwitch())
    device.run(file_frames([shared_data / "wakeword" / "alexa" / "1.flac"]))
    assert len(device.queue) == 1 and device.uploader.step() > 0
    assert device.uploader.offline and device.line.snapshot.light is Light.OFFLINE
    assert len(OfflineQueue(tmp_path / "queue", load_or_create_key(tmp_path / "device.key"))) == 1
    device.uploader.client.close()
