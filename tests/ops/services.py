"""Backing services a test starts, stops and restarts itself: a private Redis, a moto S3 server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
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


@dataclass
class TcpProxy:
    """A TCP relay on a free port in front of a real service; ``down()`` cuts it like an outage.

    While down, new connections are refused and open ones are closed, exactly what a client sees
    when the service's host goes away; ``up()`` lets traffic through again. The service itself
    (the machine's PostgreSQL, a moto server) keeps its state.
    """

    target_port: int
    port: int = field(default_factory=free_port)
    _listener: socket.socket | None = field(default=None, repr=False)
    _open: list[socket.socket] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def up(self) -> None:
        """Accept and relay connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and drop every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown() wakes the thread blocked in accept(); close() alone won't
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.extend([client, server])
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
