"""Key-encryption keys: the interface, the wrapped-key frame, and the factory that reads a URL.

A KEK wraps household data keys. It holds several versions; ``wrap`` always uses the current one
and names it in the result, ``unwrap`` accepts any version still held, and ``rotate`` adds a new
current version without touching what was wrapped before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from overheard.errors import ConfigError, DecryptionFailed

SUPPORTED_SCHEMES = ("keyfile", "pkcs11", "vault", "vaults")
"""URL schemes :func:`kek_from_url` understands."""
WRAP_FORMAT_VERSION = 1
"""The first byte of a key wrapped by the keyfile or PKCS#11 provider."""
MAX_VERSION_ID_BYTES = 64
"""Longest KEK version id a wrapped key can name, in bytes."""

_VERSION_ID = re.compile(r"v([1-9][0-9]{0,8})")
_OPAQUE_MESSAGE = "wrapped data key does not unwrap under this key-encryption key"


class KeyEncryptionKey(Protocol):
    """A versioned key that wraps and unwraps household data keys."""

    scheme: str
    """Which provider: ``"keyfile"``, ``"pkcs11"`` or ``"vault"``."""

    def current_version(self) -> str:
        """The version id that ``wrap`` uses now."""
        ...

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key under the current version; the result names that version."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a wrapped data key under any version still held; failure -> DecryptionFailed."""
        ...

    def rotate(self) -> str:
        """Create a new current version (older ones still unwrap) and return its id."""
        ...

    def wrapped_version(self, wrapped: bytes) -> str:
        """The version id a wrapped data key was wrapped under."""
        ...


def kek_from_url(url: str, *, secret: str | None = None) -> KeyEncryptionKey:
    """Open the KEK a URL names; ``secret`` is the HSM user PIN or the Vault token."""
    scheme = url.partition(":")[0].lower()
    if scheme == "keyfile":
        from overheard.crypto._keyfile import KeyfileKek

        return KeyfileKek.from_url(url)
    if scheme == "pkcs11":
        from overheard.crypto._pkcs11 import Pkcs11Kek

        return Pkcs11Kek.from_url(url, secret=secret)
    if scheme in ("vault", "vaults"):
        from overheard.crypto._vault import VaultTransitKek

        return VaultTransitKek.from_url(url, secret=secret)
    supported = ", ".join(f"{name}:" for name in SUPPORTED_SCHEMES)
    raise ConfigError(f"unknown key-encryption-key URL scheme {scheme!r}; supported: {supported}")


def create_keyfile(path: Path) -> None:
    """Write a new key file with one random KEK version at ``path``, mode 0600; no overwrite."""
    from overheard.crypto._keyfile import create_keyfile as _create

    _create(path)


def wrap_header(version: str) -> bytes:
    """A wrapped key's frame header (format byte, version length, version id); the AEAD's AAD."""
    encoded = version.encode("ascii")
    if not 0 < len(encoded) <= MAX_VERSION_ID_BYTES:
        raise ValueError(f"a KEK version id is 1..{MAX_VERSION_ID_BYTES} ASCII bytes")
    return bytes([WRAP_FORMAT_VERSION, len(encoded)]) + encoded


def split_wrapped(wrapped: bytes) -> tuple[str, bytes, bytes]:
    """Split a framed wrapped key into ``(version, header, body)``; bad -> DecryptionFailed."""
    if len(wrapped) < 2 or wrapped[0] != WRAP_FORMAT_VERSION:
        raise DecryptionFailed(_OPAQUE_MESSAGE)
    header_end = 2 + wrapped[1]
    if wrapped[1] == 0 or len(wrapped) < header_end:
        raise DecryptionFailed(_OPAQUE_MESSAGE)
    try:
        version = wrapped[2:header_end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionFailed(_OPAQUE_MESSAGE) from None
    return version, wrapped[:header_end], wrapped[header_end:]


def unwrap_failed() -> DecryptionFailed:
    """The one opaque error every provider raises when a wrapped key does not unwrap."""
    return DecryptionFailed(_OPAQUE_MESSAGE)


def version_id(number: int) -> str:
    """The version id of the ``number``-th KEK version (1 -> ``"v1"``)."""
    return f"v{number}"


def version_number(version: str) -> int | None:
    """The number in a version id (``"v2"`` -> 2), or None if ``version`` is not one."""
    match = _VERSION_ID.fullmatch(version)
    return int(match.group(1)) if match else None
