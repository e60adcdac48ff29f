"""Tokens for devices on the server's own machine: enrol through the server's data directory.

This is the operator's shortcut for demos and load tests (the same as ``overheard households add``
or ``overheard devices add``): it needs the data directory and its key file, so it only works on
the machine that runs the server. A real device is given its token at set-up.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

TOKEN_FILE_MODE = 0o600
DEMO_MARKER = "demo.json"
"""Written by ``overheard demo``: the demo households, the first of which adopts the device."""
ACTOR = "cli:device"


def enrol_device(data_dir: Path, serial: str) -> tuple[str, str]:
    """Add a device to the first demo household (or to a new household); (household id, token)."""
    from overheard.config import load_settings
    from overheard.db import transaction
    from overheard.identity import service
    from overheard.platform import Platform

    platform = Platform.open(load_settings(data_dir=data_dir))
    try:
        household = _demo_household(data_dir)
        with transaction(platform.sessions) as session:
            if household is None:
                done = service.enrol_household(
                    session, platform.keyring, platform.secrets, name="Device", account=f"DEV-{serial}",
                    email=f"{serial.lower()}@device.overheard.test", serial=serial, actor=ACTOR,
                )
                return done.household_id, done.device_token
            _, token = service.enrol_device(session, platform.keyring, household, serial=serial, actor=ACTOR)
            return household, token
    finally:
        platform.close()


def enrol_households(data_dir: Path, count: int, prefix: str = "SIM") -> list[str]:
    """Enrol ``count`` new households of one device each; their device tokens."""
    from overheard.config import load_settings
    from overheard.db import transaction
    from overheard.identity import service
    from overheard.platform import Platform

    platform = Platform.open(load_settings(data_dir=data_dir))
    run = uuid.uuid4().hex[:6]
    tokens = []
    try:
        for index in range(count):
            tag = f"{prefix}-{run}-{index:04d}"
            with transaction(platform.sessions) as session:
                done = service.enrol_household(
                    session, platform.keyring, platform.secrets, name=f"Simulated {index + 1}",
                    account=tag, email=f"{tag.lower()}@simulated.overheard.test", serial=tag,
                    actor=ACTOR,
                )
            tokens.append(done.device_token)
    finally:
        platform.close()
    return tokens


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TOKEN_FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _demo_household(data_dir: Path) -> str | None:
    marker = data_dir / DEMO_MARKER
    if not marker.is_file():
        return None
    households = json.loads(marker.read_text()).get("households") or []
    return str(households[0]["household_id"]) if households else None
