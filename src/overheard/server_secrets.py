"""Server secrets: named random keys kept in one file outside the database (mode 0600).

Used for keyed hashes (e-mail lookup), watermark keys and session signing. Values are wrapped in
``SecretBytes`` so they never show in a repr, a log line or a traceback.
"""

from __future__ import annotations

import base64
import json
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from . import durable
from .errors import ConfigError

SECRET_BYTES = 32
"""Length of each generated secret."""
NAMES = ("email_index", "watermark", "session")
"""The secrets a data directory is created with."""


class SecretBytes:
    """Bytes that hide themselves from repr and str."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "SecretBytes('**********')"

    __str__ = __repr__

    def reveal(self) -> bytes:
        """The secret itself; call only where it is used."""
        return self._value


@dataclass(frozen=True)
class ServerSecrets:
    """The loaded secrets file."""

    values: dict[str, SecretBytes]

    def __getitem__(self, name: str) -> bytes:
        try:
            return self.values[name].reveal()
        except KeyError:
            raise ConfigError(f"server secret {name!r} is missing from the secrets file") from None


def create_secrets_file(path: Path) -> None:
    """Write a new secrets file with mode 0600; an existing file is kept as it is.

    Written durably (a synced temporary linked into place), so the file is there whole or not
    at all: a file cut short (a full disk, a crash) would be kept by the next ``init`` and refuse
    every start, and replacing it would change the keys the data already stored depends on.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {name: base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode() for name in NAMES}
    # Another init that made it first keeps its file: its secrets are the ones.
    durable.write_new(path, json.dumps(body).encode(), mode=0o600)


def load_secrets(path: Path) -> ServerSecrets:
    """Read the secrets file, refusing one that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"no secrets file at {path}; run `overheard init`") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others; chmod 600 it")
    raw = json.loads(path.read_text())
    return ServerSecrets({k: SecretBytes(base64.b64decode(v)) for k, v in raw.items()})
