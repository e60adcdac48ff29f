"""Readiness: is each backing service reachable from this process right now?"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from .blobs import LocalBlobStore, S3BlobStore
from .platform import Platform
from .unavailable import backend_unavailable

Check = Callable[[Platform], None]


def _database(platform: Platform) -> None:
    with platform.sessions() as session:
        session.execute(text("SELECT 1"))


def _blob_store(platform: Platform) -> None:
    blobs = platform.blobs
    if isinstance(blobs, S3BlobStore):
        if not blobs.bucket_exists():
            raise LookupError(f"bucket {blobs.bucket!r} does not exist")
    elif isinstance(blobs, LocalBlobStore) and not blobs.root.is_dir():
        raise LookupError("blob directory is missing")


def _broker(platform: Platform) -> None:
    import redis

    url = platform.settings.broker_url
    timeout = platform.settings.broker_timeout_s
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _key_provider(platform: Platform) -> None:
    platform.keyring.kek.current_version()


def checks_for(platform: Platform) -> dict[str, Check]:
    """The checks that apply to this deployment (the broker only when one is configured)."""
    found: dict[str, Check] = {"database": _database, "blob_store": _blob_store}
    if platform.settings.broker_url.startswith(("redis://", "rediss://")):
        found["broker"] = _broker
    found["key_provider"] = _key_provider
    return found


def readiness(platform: Platform) -> dict[str, str]:
    """``{service: "ok" | why not}`` for every backing service of this deployment."""
    results: dict[str, str] = {}
    for name, check in checks_for(platform).items():
        try:
            check(platform)
        except LookupError as exc:
            results[name] = str(exc)
        except Exception as exc:  # a probe reports, never raises; no message (it may hold a URL)
            kind = "unavailable" if backend_unavailable(exc) is not None else "failing"
            results[name] = f"{kind} ({type(exc).__name__})"
        else:
            results[name] = "ok"
    return results
