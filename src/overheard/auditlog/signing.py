"""The checkpoint signing key (Ed25519, a file outside the database) and signed tree heads.

A tree head commits to ``tree_size``, ``root_hash``, a timestamp and the signing key's id, in one fixed
binary encoding (:func:`tree_head_message`). Auditors hold the public key; the private key never enters
the database, so someone who can write the database cannot sign a tree head.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .. import durable
from ..errors import ConfigError

SIGNING_KEY_FILE = "audit-signing.key"
"""Name of the private key file in the data directory."""
TREE_HEAD_CONTEXT = b"overheard audit tree head v1\n"
"""Domain separator prefixed to every signed tree head."""
KEY_ID_BYTES = 16
"""Bytes of SHA-256(raw public key) that name a key (hex-encoded: 32 characters)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The short name of a public key: hex of the first 16 bytes of SHA-256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_BYTES].hex()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), for auditors."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ConfigError for anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the audit public key must be Ed25519")
    return key


class Signer:
    """The Ed25519 private key that signs tree heads; it never shows itself in a repr."""

    __slots__ = ("_key", "key_id", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r}, key='**********')"

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature over ``message``."""
        return self._key.sign(message)


def ensure_signing_key(path: Path) -> Signer:
    """The signing key at ``path``, created (mode 0600) when absent; safe to race."""
    if not path.exists():
        _create_key_file(path)
    return load_signing_key(path)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Linked into place: a half-written key is never seen, and one another process made first
    # is kept.
    durable.write_new(path, pem, mode=0o600)


def load_signing_key(path: Path) -> Signer:
    """The signing key at ``path``, refusing a file that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"no audit signing key at {path}; run `overheard init`") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others; chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} does not hold an Ed25519 private key")
    return Signer(key)


def timestamp_us(at: datetime) -> int:
    """Microseconds since the Unix epoch, exactly."""
    return (at - EPOCH) // MICROSECOND


def tree_head_message(tree_size: int, root_hash: bytes, at: datetime, signer_key_id: str) -> bytes:
    """The canonical bytes a tree head signature covers: context, size, root, time (µs), key id."""
    kid = signer_key_id.encode("ascii")
    return b"".join(
        (
            TREE_HEAD_CONTEXT,
            struct.pack(">Q", tree_size),
            root_hash,
            struct.pack(">q", timestamp_us(at)),
            struct.pack(">B", len(kid)),
            kid,
        )
    )


@dataclass(frozen=True)
class TreeHead:
    """A signed statement: the log had ``tree_size`` events with this Merkle root at ``at``."""

    tree_size: int
    """Number of events (leaves) covered."""
    root_hash: bytes
    """RFC 6962 root over the events' entry hashes (32 bytes)."""
    at: datetime
    """When it was signed (UTC, microsecond precision)."""
    key_id: str
    """Id of the key that signed it (:func:`key_id`)."""
    signature: bytes
    """Ed25519 signature over :meth:`message` (64 bytes)."""

    def message(self) -> bytes:
        """The signed bytes."""
        return tree_head_message(self.tree_size, self.root_hash, self.at, self.key_id)

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is valid under ``public_key`` and names that key."""
        if key_id(public_key) != self.key_id:
            return False
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, for publishing the head outside the database."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "at": self.at.isoformat(timespec="microseconds"),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeHead:
        """The inverse of :meth:`to_json`."""
        return cls(
            tree_size=int(data["tree_size"]),
            root_hash=bytes.fromhex(data["root_hash"]),
            at=datetime.fromisoformat(data["at"]).astimezone(UTC),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(data["signature"]),
        )


def sign_tree_head(signer: Signer, tree_size: int, root_hash: bytes, at: datetime) -> TreeHead:
    """A tree head signed now by ``signer``."""
    message = tree_head_message(tree_size, root_hash, at, signer.key_id)
    return TreeHead(tree_size, root_hash, at, signer.key_id, signer.sign(message))
