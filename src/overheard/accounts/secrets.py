"""Keys the account code derives from the server's ``session`` secret, one per purpose (HKDF)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..server_secrets import SecretBytes, ServerSecrets

DERIVED_KEY_BYTES = 32
"""Length of each derived key in bytes."""
TOTP_SEAL_INFO = b"overheard/accounts/totp-seal/v1"
CSRF_INFO = b"overheard/accounts/csrf/v1"
ATTEMPT_KEY_INFO = b"overheard/accounts/login-attempts/v1"


def derive(secret: bytes, info: bytes) -> bytes:
    """A key for the purpose ``info`` from ``secret`` (HKDF-SHA256, no salt)."""
    return HKDF(algorithm=SHA256(), length=DERIVED_KEY_BYTES, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class AccountKeys:
    """The derived keys; each hides itself from repr."""

    totp_seal: SecretBytes
    csrf: SecretBytes
    attempts: SecretBytes

    @classmethod
    def from_secrets(cls, secrets: ServerSecrets) -> AccountKeys:
        """Derive every key from the ``session`` server secret."""
        root = secrets["session"]
        return cls(
            totp_seal=SecretBytes(derive(root, TOTP_SEAL_INFO)),
            csrf=SecretBytes(derive(root, CSRF_INFO)),
            attempts=SecretBytes(derive(root, ATTEMPT_KEY_INFO)),
        )
