"""Envelope encryption: household data keys seal records, key-encryption keys wrap data keys."""

from overheard.crypto.aead import new_data_key, open_sealed, seal
from overheard.crypto.kek import KeyEncryptionKey, create_keyfile, kek_from_url

__all__ = [
    "KeyEncryptionKey",
    "create_keyfile",
    "kek_from_url",
    "new_data_key",
    "open_sealed",
    "seal",
]
