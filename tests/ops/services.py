"""Backing services a test starts, stops and restarts itself: a private Redis, a moto S3 server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.s3server import HOST, free_port, server_command

START_TIMEOUT_S = 20.0
"""Longest wait for a started service to accept connections."""


def wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    """Return once something accepts TCP connections on ``port``; raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout_s} s")


@dataclass
class Service:
    """A server process on a fixed port that can be stopped and started again on the same port."""

    command: list[str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        with (self.workdir / f"service-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Kill the server (no graceful shutdown: this is a crash)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def redis_service(workdir: Path) -> Service:
    """A private, non-persistent Redis on a free port (``redis-server`` from Debian)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (apt install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    return Service(command, port, workdir)


def s3_service(workdir: Path) -> Service:
    """A moto S3 server on a free port (its buckets vanish when it is killed)."""
    port = free_port()
    return Service(server_command(port), port, workdir)
