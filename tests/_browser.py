"""Shared pieces of the browser tests: Debian's Chromium, a real `overheard serve`, and the two
checks every page must pass (axe-core, no horizontal overflow)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_live_server import free_port, serve_command, stop_process, wait_until_serving

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
    log = data_dir.parent / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(serve_command(data_dir, port), env=full, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log)
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
