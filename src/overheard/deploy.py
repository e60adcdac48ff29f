"""Run a whole deployment from one command: N web processes and M workers under one supervisor.

``overheard deploy --web 2 --workers 2`` initialises once (schema, bucket, first key version),
then starts ``overheard serve`` on consecutive ports and ``overheard worker`` processes with
honcho's process manager: their output is interleaved with a name prefix, and when one exits or
Ctrl-C / SIGTERM arrives, all are stopped. ``--procfile`` prints the same processes as a Procfile
for another supervisor (honcho, foreman, systemd units).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import ConfigError


@dataclass(frozen=True)
class Process:
    """One process of the deployment."""

    name: str
    argv: list[str]

    @property
    def command(self) -> str:
        """The command line, shell-quoted."""
        return shlex.join(self.argv)


def plan(settings: Settings, *, web: int, workers: int, base_port: int) -> list[Process]:
    """The processes to start: ``web`` servers on ``base_port``… and ``workers`` job workers."""
    if web < 1:
        raise ConfigError("a deployment needs at least one web process (--web 1)")
    if workers and not settings.broker_url:
        raise ConfigError(
            "separate worker processes need a broker: set OVERHEARD_BROKER_URL "
            "(e.g. redis://127.0.0.1:6379/0), or use --workers 0 to run jobs inside the web "
            "processes (OVERHEARD_WORKERS threads each)"
        )
    overheard = [sys.executable, "-m", "overheard"]
    data = ["--data-dir", str(settings.data_dir)]
    processes = [
        Process(f"web{i + 1}", [*overheard, "serve", *data, "--port", str(base_port + i)])
        for i in range(web)
    ]
    processes += [
        Process(f"worker{i + 1}", [*overheard, "worker", *data]) for i in range(workers)
    ]
    return processes


def procfile(processes: list[Process]) -> str:
    """The processes as Procfile lines."""
    return "".join(f"{p.name}: {p.command}\n" for p in processes)


def metrics_dir(settings: Settings) -> str:
    """Where the processes pool their Prometheus counters (a default under the data dir)."""
    return settings.metrics_multiprocess_dir or str(Path(settings.data_dir) / "metrics")


def child_env(settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """The environment of every child: the caller's, plus the shared metrics directory."""
    folder = metrics_dir(settings)
    return {
        **environ,
        "OVERHEARD_METRICS_MULTIPROCESS_DIR": folder,
        "PROMETHEUS_MULTIPROC_DIR": folder,
    }


def run(processes: list[Process], env: dict[str, str]) -> int:
    """Start every process under honcho and wait; the exit status of the deployment."""
    from honcho.manager import Manager

    manager = Manager()
    for process in processes:
        manager.add_process(process.name, process.command, env=env)
    manager.loop()
    return int(manager.returncode or 0)
