"""A real ``overheard serve`` on loopback for the device tests, and device factories."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overheard.device.delivery import Backoff
from overheard.device.mute import MuteSwitch
from overheard.device.run import Device, DeviceFiles
from overheard.device.state import StateLine
from overheard.device.voice import Voice
from tests.test_live_server import free_port, serve_command, stop_process, wait_until_serving

CONFIRM_S = 30.0
"""``voice_delete_confirm_s`` of the ``live`` server, seconds."""

WAIT_S = 20.0


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


class LiveServer:
    """An ``overheard serve`` subprocess on its own data dir and port (kept across restarts)."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.env = {**os.environ, "OVERHEARD_DATABASE_URL": f"sqlite:///{data_dir / 'overheard.db'}", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def overheard(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "overheard", *args, "--data-dir", str(self.data_dir)],
                             env=self.env, check=True, capture_output=True)
        return out.stdout.decode()

    def start(self) -> None:
        log = self.data_dir.parent / "server.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(serve_command(self.data_dir, self.port), env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_until_serving(self.proc, self.url, log)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def enrol(self, tmp: Path, name: str = "Ada") -> DeviceFiles:
        """A new household with one device; its token written where a device keeps it."""
        tag = os.urandom(4).hex()
        out = self.overheard("households", "add", "--name", name, "--account", f"A-{tag}",
                             "--email", f"{tag}@example.org", "--serial", f"SN-{tag}", "--json")
        files = DeviceFiles(tmp / f"device-{tag}" / "token")
        files.token_file.parent.mkdir(parents=True)
        files.token_file.write_text(json.loads(out)["device_token"] + "\n")
        return files


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without workers: recordings stay ``received``, so the tests decide what happens.
    A spoken yes may come 30 s after its question (a loaded machine plays and uploads slowly)."""
    data_dir = tmp_path_factory.mktemp("server") / "data"
    server = LiveServer(data_dir, OVERHEARD_WORKERS="0", OVERHEARD_VOICE_DELETE_CONFIRM_S=str(CONFIRM_S))
    server.overheard("init")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_device(tmp_path: Path) -> Iterator[Callable[..., Device]]:
    """Factory: a device of a new household on ``server``, quick to retry, quiet."""
    made: list[Device] = []

    def make(
        server: LiveServer, files: DeviceFiles | None = None, *, voice: Voice | None = None,
        **options: object,
    ) -> Device:
        files = files or server.enrol(tmp_path)
        uploader_options = {"backoff": Backoff(first_s=0.05, max_s=0.3), "poll_s": 0.1, **options}
        device = Device.open(server.url, files, line=StateLine(io.StringIO(), live=False),
                             switch=MuteSwitch(), voice=voice, uploader_options=uploader_options)
        made.append(device)
        return device

    yield make
    for device in made:
        device.uploader.stop()
        device.uploader.client.close()


def recordings_of(server: LiveServer, device_files: DeviceFiles | None = None) -> list[object]:
    """The recordings rows on the server (of one household's devices when given a device)."""
    from sqlalchemy import select

    from overheard.config import Settings
    from overheard.households import authenticate_device
    from overheard.platform import Platform
    from overheard.recordings.models import Recording

    settings = Settings(data_dir=server.data_dir, database_url=server.env["OVERHEARD_DATABASE_URL"])
    platform = Platform.open(settings.resolved())
    try:
        with platform.sessions() as session:
            query = select(Recording).order_by(Recording.captured_at)
            if device_files is not None:
                device = authenticate_device(session, device_files.token())
                query = query.where(Recording.device_id == device.id)
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows
    finally:
        platform.close()
