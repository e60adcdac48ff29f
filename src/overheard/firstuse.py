"""First use of external backends: the S3 bucket and the first key-encryption-key version.

``overheard init`` creates both when they are missing (or says exactly what to run when it may
not); ``overheard serve`` and ``overheard worker`` check them and refuse with the same advice.
"""

from __future__ import annotations

from .blobs import BlobStore, S3BlobStore
from .config import Settings
from .crypto.kek import KeyEncryptionKey
from .errors import ConfigError


def has_key_version(kek: KeyEncryptionKey) -> bool:
    """True when the KEK holds a current version (an empty HSM token or Vault key does not)."""
    try:
        kek.current_version()
    except ConfigError as exc:
        if "holds no key" in exc.message or "has no transit key" in exc.message:
            return False
        raise
    return True


def ensure_key_version(kek: KeyEncryptionKey) -> str | None:
    """Create the first KEK version when there is none; the new version id, or None."""
    if has_key_version(kek):
        return None
    create = getattr(kek, "create_key", None)  # Vault: the transit key itself is missing
    return str(create()) if create is not None else kek.rotate()


def ensure_bucket(blobs: BlobStore, settings: Settings) -> str | None:
    """Create the configured S3 bucket when it is missing; its name when created, else None."""
    if not isinstance(blobs, S3BlobStore) or blobs.bucket_exists():
        return None
    try:
        blobs.create_bucket(settings.s3_region)
    except Exception as exc:
        raise ConfigError(
            f"S3 bucket {blobs.bucket!r} does not exist and could not be created "
            f"({type(exc).__name__}: {exc}); create it yourself, e.g. "
            f"`aws s3 mb s3://{blobs.bucket}"
            + (f" --endpoint-url {settings.s3_endpoint_url}`" if settings.s3_endpoint_url else "`")
            + ", and give these credentials read, write, list and delete on it"
        ) from None
    return blobs.bucket


def check_ready(blobs: BlobStore, kek: KeyEncryptionKey) -> None:
    """Refuse to start on a missing bucket or an empty key, saying what to run."""
    if isinstance(blobs, S3BlobStore) and not blobs.bucket_exists():
        raise ConfigError(
            f"S3 bucket {blobs.bucket!r} does not exist; run `overheard init` "
            "(it creates the bucket) or create it and start again"
        )
    if not has_key_version(kek):
        raise ConfigError(
            f"the key-encryption key ({kek.scheme}) has no version yet; run `overheard init` "
            "(or `overheard keys rotate`) once to create the first one"
        )
