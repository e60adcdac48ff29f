"""The local key-file KEK: a JSON file of versioned 256-bit keys, readable by its owner only.

File shape: ``{"format": "overheard-kek/1", "current": "v2", "keys": {"v1": "<base64>", ...}}``.
A wrapped data key is ``header || nonce || AES-256-GCM(kek, data_key)`` with the header, which
names the version, as associated data.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from overheard import durable
from overheard.crypto.aead import DATA_KEY_BYTES, NONCE_BYTES
from overheard.crypto.kek import (
    split_wrapped,
    unwrap_failed,
    version_id,
    version_number,
    wrap_header,
)
from overheard.errors import ConfigError

FILE_FORMAT = "overheard-kek/1"
"""The ``format`` field of a key file."""
KEK_BYTES = 32
"""Length of one KEK version in bytes (AES-256)."""
FILE_MODE = 0o600
"""The only permissions a key file may have: owner read/write."""
FORBIDDEN_MODE_BITS = 0o077
"""Any of these bits set (group or world access) makes a key file refused."""

_SCHEME_PREFIX = "keyfile:"


class KeyfileKek:
    """A KEK held in a local key file (the default provider)."""

    scheme = "keyfile"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._current, self._keys = _load(path)

    @classmethod
    def from_url(cls, url: str) -> KeyfileKek:
        """Open ``keyfile:/abs/path/kek.json`` (``keyfile:///abs/path`` is accepted too)."""
        return cls(keyfile_path(url))

    def __repr__(self) -> str:
        return f"KeyfileKek(path={str(self._path)!r})"

    def current_version(self) -> str:
        """The version id that ``wrap`` uses now."""
        with self._lock:
            return self._current

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key under the current version."""
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        with self._lock:
            version, kek = self._current, self._keys[self._current]
        header = wrap_header(version)
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + AESGCM(kek).encrypt(nonce, data_key, header)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a wrapped data key under whichever version it names."""
        version, header, body = split_wrapped(wrapped)
        kek = self._key_for(version)
        if kek is None or len(body) < NONCE_BYTES:
            raise unwrap_failed()
        try:
            data_key = AESGCM(kek).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], header)
        except InvalidTag:
            raise unwrap_failed() from None
        if len(data_key) != DATA_KEY_BYTES:
            raise unwrap_failed()
        return data_key

    def rotate(self) -> str:
        """Add a new random version to the file, make it current, and return its id."""
        with self._lock, _exclusive(self._path):
            # Re-read under the file's lock so a rotation made by another process is never lost.
            _, keys = _load(self._path)
            new_version = version_id(max(_numbers(keys), default=0) + 1)
            keys[new_version] = os.urandom(KEK_BYTES)
            _replace(self._path, _document(new_version, keys))
            self._current, self._keys = new_version, keys
            return new_version

    def wrapped_version(self, wrapped: bytes) -> str:
        """The version id named in a wrapped data key."""
        return split_wrapped(wrapped)[0]

    def _key_for(self, version: str) -> bytes | None:
        with self._lock:
            if version not in self._keys:
                # Another process may have rotated since this file was read.
                self._current, self._keys = _load(self._path)
            return self._keys.get(version)


def keyfile_path(url: str) -> Path:
    """The absolute path a ``keyfile:`` URL names."""
    raw = url[len(_SCHEME_PREFIX) :]
    if raw.startswith("//"):
        raw = raw[2:]
    path = Path(raw)
    if not raw or not path.is_absolute():
        raise ConfigError(
            f"a keyfile URL names an absolute path (keyfile:/abs/kek.json), got {url!r}"
        )
    return path


def create_keyfile(path: Path) -> None:
    """Write a new key file with version ``v1`` at ``path``, mode 0600; refuse to overwrite."""
    first = version_id(1)
    if not _install(path, _document(first, {first: os.urandom(KEK_BYTES)}), exclusive=True):
        raise ConfigError(f"key file {path} already exists; refusing to overwrite it")


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the key file as it stands at ``path`` (for a read, then a
    replace): a lock taken on a file another rotation has since replaced is let go and taken again
    on the new one, so two processes never both add the same next version."""
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise ConfigError(f"key file {path} cannot be opened: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(os.fstat(fd), path):
                yield
                return
        finally:
            os.close(fd)  # also lets go of the lock


def _same_file(held: os.stat_result, path: Path) -> bool:
    try:
        current = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:  # gone meanwhile: the next open says so
        return False
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def _load(path: Path) -> tuple[str, dict[str, bytes]]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigError(
            f"key file {path} does not exist; create it with create_keyfile()"
        ) from None
    except OSError as exc:
        raise ConfigError(f"key file {path} cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_mode(path, os.fstat(handle.fileno()))
        raw = handle.read()
    return _parse(path, raw)


def _check_mode(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise ConfigError(f"key file {path} is not a regular file")
    mode = stat.S_IMODE(status.st_mode)
    if mode & FORBIDDEN_MODE_BITS:
        raise ConfigError(
            f"key file {path} has mode {mode:04o}, readable beyond its owner; "
            f"refusing to use it (run: chmod 600 {path})"
        )


def _parse(path: Path, raw: bytes) -> tuple[str, dict[str, bytes]]:
    try:
        document = json.loads(raw)
        keys = {name: _decode_key(value) for name, value in document["keys"].items()}
        current = document["current"]
        valid = document["format"] == FILE_FORMAT and current in keys
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        valid = False
    if not valid or any(version_number(name) is None for name in keys):
        raise ConfigError(f"key file {path} is not a valid {FILE_FORMAT} key file")
    return current, keys


def _decode_key(value: Any) -> bytes:
    key = base64.b64decode(value, validate=True)
    if len(key) != KEK_BYTES:
        raise ValueError("wrong key length")
    return key


def _numbers(keys: dict[str, bytes]) -> list[int]:
    return [number for name in keys if (number := version_number(name)) is not None]


def _document(current: str, keys: dict[str, bytes]) -> bytes:
    encoded = {name: base64.b64encode(key).decode("ascii") for name, key in keys.items()}
    document = {"format": FILE_FORMAT, "current": current, "keys": encoded}
    return json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def _replace(path: Path, content: bytes) -> None:
    _install(path, content, exclusive=False)


def _install(path: Path, content: bytes, *, exclusive: bool) -> bool:
    """Write the key file durably with exactly ``FILE_MODE`` (linked into place when
    ``exclusive``: False if a file is there); a temporary that cannot be made is a ConfigError."""
    try:
        fd, temp = durable.temporary_beside(path, FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write key file in {path.parent}: {exc.strerror}") from None
    return durable.install(fd, temp, path, content, exclusive=exclusive)
