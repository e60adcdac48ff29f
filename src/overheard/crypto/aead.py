"""Seal one record under a household data key: AES-256-GCM bound to the record id and kind.

The recipe has no knobs. A sealed record is ``version (1 byte) || nonce (12 bytes) || ciphertext ||
tag (16 bytes)``; the associated data is the version byte followed by length-prefixed fields, so
the pair ``("ab", "c")`` can never authenticate as ``("a", "bc")``. Every way a record can fail to
open raises :class:`~overheard.errors.DecryptionFailed` with the same message.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from overheard.errors import DecryptionFailed

DATA_KEY_BYTES = 32
"""Length of a household data key in bytes (AES-256)."""
NONCE_BYTES = 12
"""Length of the random GCM nonce in bytes (96 bits)."""
TAG_BYTES = 16
"""Length of the GCM authentication tag in bytes."""
FORMAT_VERSION = 1
"""The first byte of every sealed record."""
LENGTH_PREFIX_BYTES = 4
"""Width of the big-endian length in front of each associated-data field, in bytes."""

_HEADER = bytes([FORMAT_VERSION])
_DOMAIN = b"overheard/record"
_MIN_SEALED_BYTES = len(_HEADER) + NONCE_BYTES + TAG_BYTES
_OPAQUE_MESSAGE = "sealed record does not open under this key and context"


def new_data_key() -> bytes:
    """A fresh random data key (``DATA_KEY_BYTES`` bytes from the OS CSPRNG)."""
    return os.urandom(DATA_KEY_BYTES)


def associated_data(*, record_id: str, kind: str) -> bytes:
    """The associated data that binds a sealed record to its record id and kind."""
    fields = (_DOMAIN, record_id.encode("utf-8"), kind.encode("utf-8"))
    return _HEADER + b"".join(_length_prefixed(field) for field in fields)


def seal(data_key: bytes, plaintext: bytes, *, record_id: str, kind: str) -> bytes:
    """Encrypt ``plaintext`` for ``(record_id, kind)`` under ``data_key``."""
    _check_key(data_key)
    _check_context(record_id=record_id, kind=kind)
    nonce = os.urandom(NONCE_BYTES)
    aad = associated_data(record_id=record_id, kind=kind)
    return _HEADER + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def open_sealed(data_key: bytes, ciphertext: bytes, *, record_id: str, kind: str) -> bytes:
    """Decrypt a record sealed for ``(record_id, kind)``; any mismatch -> ``DecryptionFailed``."""
    if len(data_key) != DATA_KEY_BYTES or len(ciphertext) < _MIN_SEALED_BYTES:
        raise DecryptionFailed(_OPAQUE_MESSAGE)
    if ciphertext[: len(_HEADER)] != _HEADER:
        raise DecryptionFailed(_OPAQUE_MESSAGE)
    nonce_end = len(_HEADER) + NONCE_BYTES
    nonce, body = ciphertext[len(_HEADER) : nonce_end], ciphertext[nonce_end:]
    aad = associated_data(record_id=record_id, kind=kind)
    try:
        return AESGCM(data_key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionFailed(_OPAQUE_MESSAGE) from None


def _length_prefixed(field: bytes) -> bytes:
    return len(field).to_bytes(LENGTH_PREFIX_BYTES, "big") + field


def _check_key(data_key: bytes) -> None:
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}")


def _check_context(*, record_id: str, kind: str) -> None:
    # An empty id or kind is always a caller bug: it would bind the record to nothing.
    if not record_id or not kind:
        raise ValueError("record_id and kind must both be non-empty")
