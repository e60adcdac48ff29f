"""Shared pieces of the browser tests: Debian's Chromium, a real `overheard serve`, and the two
checks every page must pass (axe-core, no horizontal overflow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.test_live_server import START_TIMEOUT_S, free_port, stop_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CHEAP_HASHING = {"OVERHEARD_ARGON2_TIME_COST": "1", "OVERHEARD_ARGON2_MEMORY_KIB": "8192",
                 "OVERHEARD_ARGON2_PARALLELISM": "1"}
WIDTHS = (390, 1280)
"""A phone and a laptop, CSS pixels."""


@contextmanager
def live_server(data_dir: Path, database_url: str, **env: str) -> Iterator[str]:
    """`overheard serve` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    full = {**os.environ, **CHEAP_HASHING, "OVERHEARD_DATABASE_URL": database_url,
            "OVERHEARD_WORKERS": "0", **env}
    cmd = [sys.executable, "-m", "overheard", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    with (data_dir.parent / "server.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=full, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield url
    finally:
        stop_process(proc)


def overflow(page) -> int:  # type: ignore[no-untyped-def]
    """Pixels the page is wider than its viewport (0 when nothing pushes it sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def problems(page, axe) -> list[str]:  # type: ignore[no-untyped-def]
    """Horizontal overflow (pixels) and axe-core violations of the page as it is now."""
    found = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in axe.run(page).response["violations"]
    ]
    wide = overflow(page)
    return found + ([f"overflows by {wide} px"] if wide > 0 else [])
