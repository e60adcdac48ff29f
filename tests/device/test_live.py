"""The device against a real ``overheard serve`` on loopback, with real clips."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from overheard.device.cli import device_app
from overheard.device.frames import file_frames
from overheard.device.run import Device
from overheard.device.state import Light
from tests.device.conftest import LiveServer, recordings_of, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.data]
def alexa(shared_data: Path, *names: str) -> list[Path]:
    return [shared_data / "wakeword" / "alexa" / name for name in names]


def speakers(shared_data: Path, count: int) -> list[Path]:
    folders = sorted((shared_data / "speakers" / "librispeech-test-other").iterdir())
    return [sorted(folder.glob("*.flac"))[0] for folder in folders[:count]]


def linked(folder: Path, paths: list[Path]) -> Path:
    """A folder of links to the evaluation clips (never copies)."""
    folder.mkdir(parents=True)
    for index, path in enumerate(paths):
        (folder / f"{index:02d}-{path.name}").symlink_to(path)
    return folder


def test_file_input_uploads_the_wake_word_clips_and_nothing_else(
    live: LiveServer, shared_data: Path, tmp_path: Path
):
    files = live.enrol(tmp_path)
    wake = alexa(shared_data, "0.flac", "1.flac", "10.flac")
    folder = linked(tmp_path / "clips", [*wake, *speakers(shared_data, 2)])
    result = CliRunner().invoke(device_app, ["--server", live.url, "--token-file",
                                             str(files.token_file), "--input", str(folder),
                                             "--drain-s", "0.5"])
    assert result.exit_code == 0, result.output
    assert "recorded 3; sent 3;" in result.output
    rows = recordings_of(live, files)
    assert len(rows) == 3
    assert len({r.idempotency_key for r in rows}) == 3 and None not in {r.idempotency_key for r in rows}
    assert all(1.0 < r.duration_s < 5.0 for r in rows)


def test_muted_device_hears_nothing_and_sends_nothing(
    live: LiveServer, shared_data: Path, tmp_path: Path
):
    files = live.enrol(tmp_path)
    result = CliRunner().invoke(device_app, ["--server", live.url, "--token-file",
                                             str(files.token_file), "--muted", "--input",
                                             str(alexa(shared_data, "0.flac")[0]), "--drain-s", "0"])
    assert result.exit_code == 0, result.output
    assert "muted" in result.output and "recorded 0; sent 0;" in result.output
    assert recordings_of(live, files) == []


def test_offline_then_back_every_utterance_arrives_exactly_once(
    live: LiveServer, shared_data: Path, make_device: Callable[..., Device]
):
    device = make_device(live)
    device.uploader.start()
    device.run(file_frames(alexa(shared_data, "0.flac")))
    wait_until(lambda: device.uploader.tally.sent == 1)
    live.stop()
    try:
        device.run(file_frames(alexa(shared_data, "1.flac", "10.flac", "100.flac")))
        wait_until(lambda: device.uploader.offline)
        assert len(device.queue) == 3 and Light.OFFLINE in device.line.history
        head = device.queue.head()
        assert head is not None
        keys = [e.key for e in device.queue.entries()]
    finally:
        live.start()
    tally = device.uploader.tally  # an entry leaves the queue just before its answer is counted
    wait_until(lambda: len(device.queue) == 0 and len(tally.delivered_ids) + tally.refused == 4)
    assert tally.sent == 4 and not device.uploader.offline
    # An answer lost in transit: the device sends the same utterance again, with its key.
    device.queue.put(head[1], head[0].captured_at, key=head[0].key)
    device.uploader.poke()
    wait_until(lambda: device.uploader.tally.replayed == 1)
    rows = recordings_of(live)
    mine = [r for r in rows if r.id in device.uploader.tally.delivered_ids]
    assert len(mine) == 4 and set(keys) <= {r.idempotency_key for r in mine}
    assert len(device.utterances) == 4


def _platform(live: LiveServer):  # type: ignore[no-untyped-def]
    from overheard.config import Settings
    from overheard.platform import Platform

    settings = Settings(data_dir=live.data_dir, database_url=live.env["OVERHEARD_DATABASE_URL"])
    return Platform.open(settings.resolved())


def test_a_deletion_clears_the_queue_before_the_backlog_is_sent(
    live: LiveServer, shared_data: Path, make_device: Callable[..., Device]
):
    """'Delete everything I said today', said to another device while this one was offline."""
    from overheard.households import authenticate_device
    from overheard.recordings.deletion import delete_today
    from overheard.recordings.ingest import ingest
    from overheard.speech.audio import to_wav_bytes

    device = make_device(live)
    device.uploader.start()
    device.run(file_frames(alexa(shared_data, "0.flac")))
    wait_until(lambda: device.uploader.tally.sent == 1)
    household = recordings_of(live)[-1].household_id
    live.stop()
    try:
        device.run(file_frames(alexa(shared_data, "1.flac", "10.flac")))
        wait_until(lambda: len(device.queue) == 2 and device.uploader.offline)
        other = json.loads(live.overheard("devices", "add", "--household", household,
                                          "--serial", "KITCHEN-2", "--json"))["device_token"]
        platform = _platform(live)
        try:
            with platform.sessions() as session:
                kitchen = authenticate_device(session, other)
            command = ingest(platform, kitchen, to_wav_bytes(np.zeros(16000, np.int16))).recording
            delete_today(platform, command)
        finally:
            platform.close()
    finally:
        live.start()
    wait_until(lambda: bool(device.uploader.tally.deletions))
    wait_until(lambda: len(device.queue) == 0)
    deletion = device.uploader.tally.deletions[0]
    assert deletion.kind == "voice_today" and deletion.command == command.id
    assert device.uploader.tally.deleted_here == 2 and device.uploader.tally.sent == 1
    assert [r.id for r in recordings_of(live) if r.household_id == household] == []
    said = device.line._out.getvalue()  # type: ignore[attr-defined]
    assert "everything you said today" in said and "2 queued recording(s) cleared" in said


def espeak(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "command.wav"
    wav = subprocess.run(["espeak-ng", "-v", "en-gb", "--stdout", text], check=True,
                         capture_output=True).stdout
    path.write_bytes(wav)
    return path


def test_deletion_command_is_confirmed_to_the_user(
    live: LiveServer, shared_data: Path, make_device: Callable[..., Device], tmp_path: Path
):
    """The server obeys "delete what I just said" (here through its deletion service)."""
    from overheard.recordings.deletion import delete_last
    from overheard.recordings.models import Recording

    device = make_device(live)
    device.uploader.start()
    device.run(file_frames([*alexa(shared_data, "0.flac"), espeak(tmp_path, "Alexa, delete what I just said")]))
    wait_until(lambda: device.uploader.tally.sent == 2)
    first, command_id = device.uploader.tally.delivered_ids
    platform = _platform(live)
    try:
        with platform.sessions() as session:
            command = session.get(Recording, command_id)
        assert command is not None
        delete_last(platform, command, window_s=platform.settings.voice_delete_window_s)
    finally:
        platform.close()
    wait_until(lambda: bool(device.uploader.tally.deletions))
    deletion = device.uploader.tally.deletions[0]
    assert deletion.kind == "voice_last" and deletion.command == command_id
    assert device.uploader.client.status(first).kind == "voice_last"  # type: ignore[union-attr]
    assert "deleted on your request: what you just said" in device.line._out.getvalue()  # type: ignore[attr-defined]
    wait_until(device.uploader.idle)


def test_spoken_deletion_command_end_to_end(
    shared_data: Path, make_device: Callable[..., Device], tmp_path: Path
):
    """Device → server pipeline (wake word, ASR, intent) → deletion → 410 → the device confirms."""
    # The phrasing was written for pocketsphinx (Whisper tiny.en hears espeak's "said today" as
    # "said to me"); the undo window is closed so the deletion happens before the device asks again.
    server = LiveServer(
        tmp_path / "pipeline-server" / "data",
        OVERHEARD_WORKERS="1",
        OVERHEARD_ASR="pocketsphinx",
        OVERHEARD_VOICE_DELETE_UNDO_S="0",
    )
    server.overheard("init")
    server.start()
    try:
        device = make_device(server)
        device.uploader.start()
        command = espeak(tmp_path, "Alexa, delete everything I said today")
        device.run(file_frames([*alexa(shared_data, "0.flac"), command]))
        wait_until(lambda: bool(device.uploader.tally.deletions), timeout_s=60)
        deletion = device.uploader.tally.deletions[0]
        assert deletion.kind == "voice_today"
        assert deletion.command == device.uploader.tally.delivered_ids[1]
        assert "deleted on your request: everything you said today" in device.line._out.getvalue()  # type: ignore[attr-defined]
        assert recordings_of(server) == []
    finally:
        device.uploader.stop()
        server.stop()
