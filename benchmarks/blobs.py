"""Blob store throughput: each backend beside a baseline measured in the same run.

Baselines: a plain ``open().write()`` without fsync or rename, the same with one fsync of the
file (what the temporary, the rename and the directory fsync add), and a plain read; for S3, the same requests made straight through a boto3 client (what the store adds).

    python benchmarks/blobs.py [--blobs N] [--size-bytes B] [--no-s3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # for tests.s3server, the moto server launcher

from tests.s3server import create_bucket, moto_s3_server, s3_client  # noqa: E402

from overheard.blobs import LocalBlobStore, blob_store_from_url  # noqa: E402

DEFAULT_BLOBS = 200
DEFAULT_SIZE_BYTES = 64 * 1024  # about two seconds of 16 kHz 16-bit audio
REPEATS = 3
LISTINGS = ["-"] * 10


def timed(
    label: str,
    backend: str,
    keys: list[str],
    size: int,
    op: Callable[[str], object],
    repeats: int = REPEATS,
) -> str:
    """Run ``op`` on every key, best of ``repeats`` passes (the machine is shared); one table row."""
    elapsed = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for key in keys:
            op(key)
        elapsed = min(elapsed, time.perf_counter() - start)
    per_op_ms = 1000 * elapsed / len(keys)
    mb_s = len(keys) * size / elapsed / 1e6
    return f"| {label:<22} | {backend:<16} | {len(keys):>5} | {per_op_ms:>9.3f} | {mb_s:>8.1f} |"


def naive_write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def fsynced_write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def local_rows(keys: list[str], data: bytes) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalBlobStore(Path(scratch) / "store")
        naive = Path(scratch) / "naive"
        size = len(data)
        return [
            timed(
                "put (baseline: write)", "local", keys, size, lambda k: naive_write(naive, k, data)
            ),
            timed(
                "put (baseline: +fsync)",
                "local",
                keys,
                size,
                lambda k: fsynced_write(naive, k, data),
            ),
            timed("put", "local", keys, size, lambda k: store.put(k, data)),
            timed("get (baseline: read)", "local", keys, size, lambda k: (naive / k).read_bytes()),
            timed("get", "local", keys, size, store.get),
            timed("list all (baseline)", "local", LISTINGS, 0, lambda _: list(os.walk(naive))),
            timed("list all", "local", LISTINGS, 0, lambda _: list(store.list())),
            timed("delete (one pass)", "local", keys, size, store.delete, repeats=1),
        ]


def s3_rows(keys: list[str], data: bytes) -> list[str]:
    with moto_s3_server() as endpoint_url:
        bucket = create_bucket(endpoint_url)
        store = blob_store_from_url(f"s3://{bucket.name}/store", **bucket.blob_store_options())
        raw = s3_client(endpoint_url)
        size = len(data)
        rows = [
            timed(
                "put (baseline: boto3)",
                "s3 (moto)",
                keys,
                size,
                lambda k: raw.put_object(Bucket=bucket.name, Key=f"raw/{k}", Body=data),
            ),
            timed("put", "s3 (moto)", keys, size, lambda k: store.put(k, data)),
            timed(
                "get (baseline: boto3)",
                "s3 (moto)",
                keys,
                size,
                lambda k: raw.get_object(Bucket=bucket.name, Key=f"raw/{k}")["Body"].read(),
            ),
            timed("get", "s3 (moto)", keys, size, store.get),
            timed("list all", "s3 (moto)", LISTINGS, 0, lambda _: list(store.list())),
        ]
        raw.close()
        store.close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=DEFAULT_BLOBS)
    parser.add_argument("--size-bytes", type=int, default=DEFAULT_SIZE_BYTES)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    keys = [f"bench/{index % 16:02d}/{index:06d}" for index in range(args.blobs)]
    data = os.urandom(args.size_bytes)
    print(f"{args.blobs} blobs of {args.size_bytes} bytes, best of {REPEATS} passes;")
    print("a list row times one full listing of every blob")
    print("| operation              | backend          |     n | ms per op |     MB/s |")
    print("| ---------------------- | ---------------- | ----: | --------: | -------: |")
    rows = local_rows(keys, data) + ([] if args.no_s3 else s3_rows(keys, data))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
