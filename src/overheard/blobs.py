"""Blob store: sealed bytes under a key, in a local directory or an S3-compatible bucket.

Callers hand in content that is already encrypted; the store only keeps the bytes safe and findable.
The backend is chosen from a URL: ``file:///srv/overheard/blobs`` (or a plain absolute path) or
``s3://bucket/optional/prefix``.

A key is a ``/``-separated path of lower-case segments. On the local backend a key cannot also be a
folder of other keys (``a`` and ``a/b`` together); S3 does not enforce this, so do not rely on it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from botocore.exceptions import ClientError

from overheard import durable
from overheard.errors import ConfigError, Conflict, NotFound, StorageFailed

log = logging.getLogger(__name__)

KEY_MAX_BYTES = 512
"""Longest key accepted, in bytes (S3 allows 1024; a store prefix takes part of that)."""
SEGMENT_MAX_BYTES = 255
"""Longest part between slashes, in bytes: a file name on common file systems."""
TEMPORARY_PREFIX = ".tmp-"
"""Name prefix of a local write in progress; keys can never start a segment with a dot."""
FILE_MODE = 0o600
DIR_MODE = 0o700
SESSION_INFO_KEY = "overheard.blob_store"
"""``Session.info`` key under which a platform's sessions carry its blob store (for deletion hooks)."""
SUPPORTED_SCHEMES = ("file://", "s3://")
S3_LIST_PAGE_KEYS = 1000
"""Keys per ``list_objects_v2`` request (the S3 maximum)."""
S3_DEFAULT_REGION = "us-east-1"
S3_CONNECT_TIMEOUT_S = 5.0
"""Default connect and read timeout of one S3 request (``s3_timeout_s``), seconds."""
S3_MAX_ATTEMPTS = 3
"""Default tries of one S3 request (``s3_max_attempts``)."""
_MAKEDIRS_ATTEMPTS = 8
_SEGMENT = r"[a-z0-9][a-z0-9_.-]*"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX_RE = re.compile(r"[a-z0-9_.-][a-z0-9/_.-]*")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_O_OPEN_FLAGS = os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob, as listed."""

    key: str
    size_bytes: int
    """Length of the stored content, bytes."""
    modified_at: datetime
    """Last write, UTC."""


class BlobStore(Protocol):
    """Where sealed bytes live; every backend behaves the same for valid keys."""

    url: str
    """Where the store is, without credentials."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous content; durable when it returns."""
        ...

    def get(self, key: str) -> bytes:
        """The content under ``key``; :class:`NotFound` (``blob_not_found``) when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is already gone."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds content."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix`` (a plain string prefix), in key order."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


def delete_quietly(store: BlobStore, keys: Iterable[str]) -> None:
    """Remove ``keys`` written by a transaction that did not commit (an error is logged, not raised).

    Called while that transaction's own error propagates; a blob left behind is ciphertext that no
    row names, removed by the orphan sweep.
    """
    for key in keys:
        try:
            store.delete(key)
        except Exception as exc:  # the caller's error is the one that matters
            log.warning("could not remove uncommitted blob (%s)", type(exc).__name__)


def validate_key(key: str) -> str:
    """Return ``key`` unchanged, or raise ValueError when it is not a safe blob key."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r:.80}: expected [a-z0-9][a-z0-9/_.-]*, no '..'")
    if len(key.encode()) > KEY_MAX_BYTES or any(
        len(part) > SEGMENT_MAX_BYTES for part in key.split("/")
    ):
        raise ValueError(f"blob key too long ({len(key)} characters)")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged, or raise ValueError when no valid key could start with it."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix) or ".." in prefix:
        raise ValueError(f"invalid blob prefix {prefix!r:.80}")
    if len(prefix.encode()) > KEY_MAX_BYTES:
        raise ValueError(f"blob prefix too long ({len(prefix)} characters)")
    return prefix


def _not_found(key: str) -> NotFound:
    return NotFound(f"no blob under key {key!r}", code="blob_not_found")


class LocalBlobStore:
    """Blobs as files under one directory, one subdirectory per ``/`` in the key."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise ConfigError(f"local blob directory must be an absolute path, got {str(root)!r}")
        try:
            root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"blob directory {str(root)!r} is not a directory") from None
        self.root = root
        self.url = root.as_uri()

    def put(self, key: str, data: bytes) -> None:
        """Write to a temporary, fsync it, rename it into place, fsync the directory. A write
        that fails (``ENOSPC``, ``EIO``) removes the temporary and raises :class:`StorageFailed`."""
        path = self._path(validate_key(key))
        try:
            fd, temporary = self._open_temporary(path.parent)
            durable.install(fd, temporary, path, data)
        except IsADirectoryError:
            raise _key_conflict(key) from None
        except OSError as exc:
            raise StorageFailed(exc) from exc

    def get(self, key: str) -> bytes:
        """The file's bytes; a missing file, a folder or a symlink is :class:`NotFound`."""
        try:
            fd = os.open(self._path(validate_key(key)), os.O_RDONLY | _O_OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(key) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink, which this store never writes
                raise _not_found(key) from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _not_found(key)
            with open(fd, "rb", closefd=False) as file:
                return file.read()
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        """Unlink the file, then drop folders it leaves empty so no key name lingers on disk."""
        path = self._path(validate_key(key))
        if not self._is_file(path):
            return
        try:
            path.unlink()
        except FileNotFoundError:
            return
        durable.sync_dir(path.parent)
        self._prune(path.parent)

    def exists(self, key: str) -> bool:
        """Whether a regular file stands at the key's path."""
        return self._is_file(self._path(validate_key(key)))

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Walk only the folders that can hold matching keys, yielding in key order."""
        return self._walk(self.root, "", validate_prefix(prefix))

    def close(self) -> None:
        """Nothing to release."""

    def sweep_temporaries(self, older_than: timedelta, now: datetime) -> int:
        """Remove temporaries untouched since ``now - older_than`` (left by a crash); count them."""
        if now.tzinfo is None or older_than < timedelta(0):
            raise ValueError("now must be timezone-aware and older_than not negative")
        cutoff = (now - older_than).timestamp()
        removed = 0
        for folder, _dirs, files in os.walk(self.root, topdown=False):
            stale = [Path(folder, name) for name in files if name.startswith(TEMPORARY_PREFIX)]
            stale = [path for path in stale if self._older(path, cutoff)]
            for path in stale:
                path.unlink(missing_ok=True)
            if stale:
                self._prune(Path(folder))
            removed += len(stale)
        return removed

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _open_temporary(self, folder: Path) -> tuple[int, Path]:
        """Create an exclusive temporary in ``folder``, remaking it if a delete pruned it."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_OPEN_FLAGS
        for _ in range(_MAKEDIRS_ATTEMPTS):
            temporary = folder / f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}"
            try:
                self._make_folders(folder)
                return os.open(temporary, flags, FILE_MODE), temporary
            except FileNotFoundError:
                continue
        raise OSError(f"blob folder {folder} kept vanishing while writing")

    def _make_folders(self, folder: Path) -> None:
        """Create each missing folder below the root with mode 0700 and fsync its parent."""
        if folder.is_dir():
            return
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            try:
                current.mkdir(mode=DIR_MODE)
            except FileExistsError:
                # lstat raises FileNotFoundError if a delete pruned it meanwhile: the caller retries
                if not stat.S_ISDIR(current.lstat().st_mode):
                    raise _key_conflict(str(current.relative_to(self.root))) from None
                continue
            durable.sync_dir(current.parent)

    def _prune(self, folder: Path) -> None:
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): a concurrent put owns it now
                return
            folder = folder.parent
            durable.sync_dir(folder)

    def _walk(self, folder: Path, base: str, prefix: str) -> Iterator[BlobInfo]:
        # Sorting folders as "name/" makes a depth-first walk come out in plain key order.
        try:
            entries = sorted(
                ((entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name), entry)
                for entry in os.scandir(folder)
                if not entry.name.startswith(".")
            )
        except FileNotFoundError:
            return
        for name, entry in entries:
            key = base + name
            if name.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(Path(entry.path), key, prefix)
            elif key.startswith(prefix):
                info = _file_info(key, entry)
                if info is not None:
                    yield info

    @staticmethod
    def _is_file(path: Path) -> bool:
        try:
            return stat.S_ISREG(path.lstat().st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    @staticmethod
    def _older(path: Path, cutoff: float) -> bool:
        try:
            return path.lstat().st_mtime < cutoff
        except FileNotFoundError:
            return False


def _file_info(key: str, entry: os.DirEntry[str]) -> BlobInfo | None:
    """A listing row for a regular file with a valid key; None for anything else."""
    try:
        info = entry.stat(follow_symlinks=False)
        validate_key(key)
    except (FileNotFoundError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return BlobInfo(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))


def _key_conflict(key: str) -> Conflict:
    return Conflict(
        f"blob key {key!r} collides with a folder of other keys (or a key is used as a folder)",
        code="blob_key_conflict",
    )


class S3BlobStore:
    """Blobs as objects in an S3-compatible bucket, under an optional key prefix."""

    def __init__(
        self, bucket: str, prefix: str, *, client: Any, list_page_keys: int = S3_LIST_PAGE_KEYS
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self._client = client
        self._list_page_keys = list_page_keys

    def put(self, key: str, data: bytes) -> None:
        """One ``put_object``; S3 makes it visible and durable before answering."""
        self._call("put_object", key, Body=data)

    def get(self, key: str) -> bytes:
        """One ``get_object``, read to the end."""
        body = self._call("get_object", key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def delete(self, key: str) -> None:
        """One ``delete_object``, which S3 answers the same whether the key existed or not.

        In a bucket with versioning on (or suspended) that only hides the object behind a delete
        marker and keeps its data as a noncurrent version; the answer then names the marker, and
        every version of the key, the marker included, is deleted as well.
        """
        answer = self._call("delete_object", key)
        if answer.get("DeleteMarker") or answer.get("VersionId"):
            self._delete_versions(self._key_prefix + validate_key(key))

    def _delete_versions(self, full_key: str) -> None:
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=full_key
        )
        try:
            for page in pages:
                versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                doomed = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in versions
                    if v["Key"] == full_key  # the prefix also matches longer keys
                ]
                if doomed:
                    self._delete_objects(doomed)
        except ClientError as exc:
            raise self._translate(exc, key=full_key) from None

    def _delete_objects(self, doomed: list[dict[str, str]]) -> None:
        answer = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": doomed, "Quiet": True}
        )
        failed = answer.get("Errors") or []
        if failed:  # the purge that asked is retried
            first = failed[0]
            raise OSError(
                f"S3 kept {len(failed)} version(s) of {first.get('Key')!r}: {first.get('Code')}"
            )

    def exists(self, key: str) -> bool:
        """One ``head_object``."""
        try:
            self._call("head_object", key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """``list_objects_v2`` page by page; objects whose names are not valid keys are skipped."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=self._key_prefix + validate_prefix(prefix),
            PaginationConfig={"PageSize": self._list_page_keys},
        )
        return self._rows(pages)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def bucket_exists(self) -> bool:
        """One ``head_bucket``: False when the bucket is missing; other failures raise."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def create_bucket(self, region: str) -> None:
        """Create the bucket (outside us-east-1 S3 wants the region named)."""
        params: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != S3_DEFAULT_REGION:
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._client.create_bucket(**params)

    def _rows(self, pages: Iterable[dict[str, Any]]) -> Iterator[BlobInfo]:
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self._key_prefix) :]
                    if _KEY_RE.fullmatch(key) and ".." not in key:
                        yield BlobInfo(key, item["Size"], item["LastModified"].astimezone(UTC))
        except ClientError as exc:
            raise self._translate(exc, key="") from None

    def _call(self, operation: str, key: str, **params: Any) -> dict[str, Any]:
        full_key = self._key_prefix + validate_key(key)
        try:
            response: dict[str, Any] = getattr(self._client, operation)(
                Bucket=self.bucket, Key=full_key, **params
            )
        except ClientError as exc:
            raise self._translate(exc, key) from None
        return response

    def _translate(self, exc: ClientError, key: str) -> Exception:
        """Our error for a missing key or bucket; any other S3 failure unchanged."""
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _S3_MISSING_KEY_CODES:
            return _not_found(key)
        if code == "NoSuchBucket":
            return ConfigError(f"S3 bucket {self.bucket!r} does not exist")
        unchanged: Exception = exc
        return unchanged


def blob_store_from_url(
    url: str,
    *,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_timeout_s: float = S3_CONNECT_TIMEOUT_S,
    s3_max_attempts: int = S3_MAX_ATTEMPTS,
) -> BlobStore:
    """The store a URL names; :class:`ConfigError` for an unknown scheme or a malformed URL."""
    if url.startswith("/"):
        return LocalBlobStore(Path(url))
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobStore(_file_path(parts))
    if parts.scheme == "s3":
        bucket, prefix = _s3_location(parts)
        client = _s3_client(
            s3_endpoint_url,
            s3_region,
            s3_access_key,
            s3_secret_key,
            timeout_s=s3_timeout_s,
            max_attempts=s3_max_attempts,
        )
        return S3BlobStore(bucket, prefix, client=client)
    supported = ", ".join(SUPPORTED_SCHEMES)
    raise ConfigError(
        f"unsupported blob store URL scheme {parts.scheme!r}; supported: {supported} "
        "or an absolute path"
    )


def _file_path(parts: SplitResult) -> Path:
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError("a file:// blob store URL needs an absolute path: file:///srv/blobs")
    if parts.query or parts.fragment:
        raise ConfigError("a file:// blob store URL takes no query or fragment")
    return Path(unquote(parts.path))


def _s3_location(parts: SplitResult) -> tuple[str, str]:
    """Bucket and key prefix of an ``s3://bucket/prefix`` URL; credentials never belong in it."""
    if "@" in parts.netloc:
        raise ConfigError("put S3 credentials in the s3 access/secret key settings, not the URL")
    if parts.query or parts.fragment:
        raise ConfigError("an s3:// blob store URL takes no query or fragment")
    if not _BUCKET_RE.fullmatch(parts.netloc):
        raise ConfigError(f"invalid S3 bucket name {parts.netloc!r}")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except ValueError as exc:
            raise ConfigError(f"invalid S3 key prefix: {exc}") from None
    return parts.netloc, prefix


def _s3_client(
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    *,
    timeout_s: float = S3_CONNECT_TIMEOUT_S,
    max_attempts: int = S3_MAX_ATTEMPTS,
) -> Any:
    """One boto3 client per store; boto3 clients are safe to share between threads."""
    if (access_key is None) != (secret_key is None):
        raise ConfigError("set both the S3 access key and the S3 secret key, or neither")
    import boto3  # lazily: a local-only deployment never pays for it
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": max_attempts, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or S3_DEFAULT_REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )
