"""The blob store, run against both backends: a local directory and S3 on a moto server."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from overheard.blobs import (
    KEY_MAX_BYTES,
    TEMPORARY_PREFIX,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_store_from_url,
)
from overheard.errors import ConfigError, Conflict, NotFound
from tests.s3server import MotoBucket, create_bucket, moto_s3_server, s3_client

BACKENDS = ["local", "s3", "s3-prefixed"]
S3_PREFIX = "tenant-1/blobs"
DIGEST_BYTES = 32
LONGEST_KEY = "x" * 255 + "/" + "y" * 254 + "/z"
assert len(LONGEST_KEY) == KEY_MAX_BYTES


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> MotoBucket:
    return create_bucket(s3_endpoint)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        built = blob_store_from_url((tmp_path / "blobs").as_uri())
    else:
        bucket: MotoBucket = request.getfixturevalue("s3_bucket")
        prefix = f"/{S3_PREFIX}" if request.param == "s3-prefixed" else ""
        built = blob_store_from_url(f"s3://{bucket.name}{prefix}", **bucket.blob_store_options())
    yield built
    built.close()


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def sealed(payload: bytes) -> bytes:
    """Content that carries its own checksum, so a torn write is detectable."""
    return hashlib.sha256(payload).digest() + payload


def is_intact(content: bytes) -> bool:
    return hashlib.sha256(content[DIGEST_BYTES:]).digest() == content[:DIGEST_BYTES]


def temporaries(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"{TEMPORARY_PREFIX}*") if path.is_file()]


# --- the contract, on every backend -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("a", b"x"),
        ("recordings/hh-01/rec-0001.audio", bytes(range(256)) * 40),
        ("empty", b""),
        ("deep/er/and/deeper/still/blob.bin", b"\x00\xff" * 3),
    ],
)
def test_put_then_get_returns_the_same_bytes(store: BlobStore, key: str, data: bytes) -> None:
    store.put(key, data)
    assert store.get(key) == data
    assert store.exists(key)


def test_missing_key_is_not_found_with_code(store: BlobStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("never/written")
    assert caught.value.code == "blob_not_found"
    assert caught.value.status == 404
    assert not store.exists("never/written")


def test_delete_removes_and_is_idempotent(store: BlobStore) -> None:
    store.put("a/b", b"1")
    store.put("a/c", b"2")
    store.delete("a/b")
    store.delete("a/b")
    store.delete("never/written")
    assert not store.exists("a/b")
    with pytest.raises(NotFound):
        store.get("a/b")
    assert store.get("a/c") == b"2"


def test_overwrite_replaces_whole_content(store: BlobStore) -> None:
    store.put("k", b"a much longer first version")
    store.put("k", b"short")
    assert store.get("k") == b"short"
    assert [(info.key, info.size_bytes) for info in store.list()] == [("k", 5)]


def test_list_filters_by_plain_string_prefix(store: BlobStore) -> None:
    keys = ["a/b/x", "a/bc", "ab", "b/a", "a/d/e/f"]
    for key in keys:
        store.put(key, key.encode())
    assert [info.key for info in store.list()] == sorted(keys)
    assert [info.key for info in store.list("a/")] == ["a/b/x", "a/bc", "a/d/e/f"]
    assert [info.key for info in store.list("a/b")] == ["a/b/x", "a/bc"]
    assert [info.key for info in store.list("a/b/")] == ["a/b/x"]
    assert [info.key for info in store.list("a")] == ["a/b/x", "a/bc", "a/d/e/f", "ab"]
    assert list(store.list("zzz")) == []


def test_list_is_in_key_order_across_folders(store: BlobStore) -> None:
    keys = ["a-c", "a/b", "a.d", "a_e", "a0", "a/c/d", "a/c-e", "a/c.f", "a/c0", "b"]
    for key in random.Random(7).sample(keys, len(keys)):
        store.put(key, b"")
    assert [info.key for info in store.list()] == sorted(keys)


def test_list_reports_size_and_utc_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.put("sized", b"12345")
    [info] = store.list("sized")
    assert info.size_bytes == 5
    assert info.modified_at.utcoffset() == timedelta(0)
    assert before <= info.modified_at <= datetime.now(UTC) + timedelta(seconds=5)


@pytest.mark.parametrize("store", ["local", "s3"], indirect=True)
def test_list_more_than_a_thousand_keys(store: BlobStore) -> None:
    keys = [f"many/{index:05d}" for index in range(1003)]  # S3 answers at most 1000 per page
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: store.put(key, key.encode()), keys))
    store.put("other", b"")
    assert [info.key for info in store.list("many/")] == keys
    assert sum(1 for _ in store.list()) == len(keys) + 1


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "..",
    ".",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    ".hidden",
    f"a/{TEMPORARY_PREFIX}0123",
    "Upper",
    "with space",
    "back\\slash",
    "nul\x00byte",
    "new\nline",
    "é",
    "a..b",
    "x" * (KEY_MAX_BYTES + 1),
    LONGEST_KEY + "z",
    "a/" + "z" * 256,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_by_every_operation(
    store: BlobStore, key: str, tmp_path: Path
) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError):
        store.put(key, b"evil")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.exists(key)
    assert sorted(tmp_path.rglob("*")) == before
    assert list(store.list()) == []


@pytest.mark.parametrize("prefix", ["/", "../", "a/../", "A", "a b", ".."])
def test_bad_prefixes_are_refused(store: BlobStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        list(store.list(prefix))


@pytest.mark.parametrize("key", ["0", "a.b-c_d/e", "a/b-.c_/d", LONGEST_KEY])
def test_edge_valid_keys_are_accepted(store: BlobStore, key: str) -> None:
    store.put(key, b"ok")
    assert store.get(key) == b"ok"


def test_concurrent_puts_from_threads(store: BlobStore) -> None:
    writers, per_writer = 8, 12
    barrier = threading.Barrier(writers)

    def write(writer: int) -> bytes:
        mine = sealed(f"writer {writer}".encode() * (writer + 1) * 500)
        barrier.wait()
        for index in range(per_writer):
            store.put(f"own/{writer}/{index:03d}", sealed(f"{writer}-{index}".encode()))
            store.put("shared/one", mine)
        return mine

    with ThreadPoolExecutor(max_workers=writers) as pool:
        written = list(pool.map(write, range(writers)))
    for writer in range(writers):
        for index in range(per_writer):
            assert store.get(f"own/{writer}/{index:03d}") == sealed(f"{writer}-{index}".encode())
    assert store.get("shared/one") in written
    assert len(list(store.list())) == writers * per_writer + 1


def test_concurrent_puts_and_deletes_in_one_folder(store: BlobStore) -> None:
    # On a local store a delete prunes folders it empties; a put racing it must remake them.
    workers, rounds = 6, 25

    def churn(worker: int) -> None:
        key = f"churn/{worker}"
        for _ in range(rounds):
            store.put(key, b"x")
            store.delete(key)
        store.put(key, b"final")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(churn, range(workers)))
    assert [store.get(f"churn/{worker}") for worker in range(workers)] == [b"final"] * workers


# --- URLs and configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://example.org/blobs", "gs://bucket", "ftp://host/dir", "relative/dir", "c:/x"]
)
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blob_store_from_url(url)
    assert "file://" in caught.value.message
    assert "s3://" in caught.value.message


def test_local_urls_and_plain_paths(tmp_path: Path) -> None:
    by_url = blob_store_from_url(f"file://{tmp_path}/by%20url")
    by_path = blob_store_from_url(str(tmp_path / "by-path"))
    assert isinstance(by_url, LocalBlobStore)
    assert by_url.root == tmp_path / "by url"
    assert by_url.url == (tmp_path / "by url").as_uri()
    assert isinstance(by_path, LocalBlobStore)
    assert by_path.url == f"file://{tmp_path}/by-path"
    assert (tmp_path / "by-path").is_dir()


@pytest.mark.parametrize("url", ["file://otherhost/x", "file:relative/x", "file:///x?y=1"])
def test_malformed_file_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        blob_store_from_url(url)


def test_local_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigError):
        blob_store_from_url(str(tmp_path / "file"))


@pytest.mark.parametrize(
    "url",
    ["s3://AKIA:hunter2@bucket", "s3://a", "s3://Bad_Bucket", "s3://bucket/../x", "s3://b/p?x=1"],
)
def test_malformed_s3_urls_never_echo_secrets(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        blob_store_from_url(url, s3_access_key="k", s3_secret_key="s")
    assert "hunter2" not in caught.value.message


def test_s3_access_key_without_secret() -> None:
    with pytest.raises(ConfigError):
        blob_store_from_url("s3://bucket", s3_access_key="only-half")


def test_s3_url_carries_bucket_and_prefix_only(s3_bucket: MotoBucket) -> None:
    store = blob_store_from_url(
        f"s3://{s3_bucket.name}/{S3_PREFIX}/", **s3_bucket.blob_store_options()
    )
    bare = blob_store_from_url(f"s3://{s3_bucket.name}", **s3_bucket.blob_store_options())
    assert store.url == f"s3://{s3_bucket.name}/{S3_PREFIX}"
    assert bare.url == f"s3://{s3_bucket.name}"
    assert s3_bucket.secret_key not in store.url
    store.close()
    bare.close()


# --- S3 specifics -------------------------------------------------------------------------------


def test_s3_prefix_places_and_isolates_objects(s3_bucket: MotoBucket) -> None:
    options = s3_bucket.blob_store_options()
    inner = blob_store_from_url(f"s3://{s3_bucket.name}/{S3_PREFIX}", **options)
    outer = blob_store_from_url(f"s3://{s3_bucket.name}", **options)
    inner.put("x/y", b"inside")
    outer.put("x/z", b"outside")
    raw = s3_client(s3_bucket.endpoint_url)
    listed = raw.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    raw.close()
    assert sorted(item["Key"] for item in listed) == [f"{S3_PREFIX}/x/y", "x/z"]
    assert [info.key for info in inner.list()] == ["x/y"]
    assert not inner.exists("x/z")
    assert outer.get(f"{S3_PREFIX}/x/y") == b"inside"
    inner.close()
    outer.close()


def test_s3_delete_in_a_versioned_bucket_leaves_no_version(s3_bucket: MotoBucket) -> None:
    """A bucket with versioning on keeps a deleted object as a noncurrent version behind a delete
    marker: the key looks gone while its ciphertext stays readable (under a household key that a
    one-clip deletion or an accidental wake's purge leaves alive). Deleting removes every version
    of the key, the marker included, and no version of a neighbouring key."""
    raw = s3_client(s3_bucket.endpoint_url)
    raw.put_bucket_versioning(
        Bucket=s3_bucket.name, VersioningConfiguration={"Status": "Enabled"}
    )
    store = blob_store_from_url(f"s3://{s3_bucket.name}/{S3_PREFIX}", **s3_bucket.blob_store_options())
    store.put("audio/hh/r1", b"first")
    store.put("audio/hh/r1", b"second")  # a rewrite: two versions
    store.put("audio/hh/r10", b"neighbour")  # shares the key as a prefix
    store.delete("audio/hh/r1")
    assert not store.exists("audio/hh/r1")
    found = raw.list_object_versions(Bucket=s3_bucket.name, Prefix=f"{S3_PREFIX}/audio/hh/")
    left = [v["Key"] for v in found.get("Versions", []) + found.get("DeleteMarkers", [])]
    raw.close()
    assert left == [f"{S3_PREFIX}/audio/hh/r10"]
    assert store.get("audio/hh/r10") == b"neighbour"
    store.close()


def test_s3_list_follows_small_pages(s3_bucket: MotoBucket) -> None:
    store = S3BlobStore(
        s3_bucket.name, "p", client=s3_client(s3_bucket.endpoint_url), list_page_keys=7
    )
    keys = [f"k{index:02d}" for index in range(30)]
    for key in keys:
        store.put(key, b"")
    assert [info.key for info in store.list()] == keys
    assert [info.key for info in store.list("k1")] == keys[10:20]
    store.close()


def test_s3_foreign_object_names_are_not_listed(s3_bucket: MotoBucket) -> None:
    raw = s3_client(s3_bucket.endpoint_url)
    for name in ["Upper/Case", "folder-marker/", "ok/../escape"]:
        raw.put_object(Bucket=s3_bucket.name, Key=name, Body=b"")
    raw.close()
    store = blob_store_from_url(f"s3://{s3_bucket.name}", **s3_bucket.blob_store_options())
    store.put("ok/fine", b"")
    assert [info.key for info in store.list()] == ["ok/fine"]
    store.close()


def test_s3_missing_bucket_is_a_config_error(s3_endpoint: str) -> None:
    options = MotoBucket(s3_endpoint, "never-created").blob_store_options()
    store = blob_store_from_url("s3://never-created", **options)
    with pytest.raises(ConfigError):
        store.put("a", b"")
    with pytest.raises(ConfigError):
        list(store.list())
    store.close()


# --- local specifics ----------------------------------------------------------------------------


def test_local_files_0600_and_folders_0700_whatever_the_umask(local: LocalBlobStore) -> None:
    previous = os.umask(0)
    try:
        local.put("x/y/z", b"secret")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((local.root / "x/y/z").stat().st_mode) == 0o600
    assert stat.S_IMODE((local.root / "x").stat().st_mode) == 0o700
    assert stat.S_IMODE((local.root / "x/y").stat().st_mode) == 0o700


def test_local_keys_fan_out_into_folders(local: LocalBlobStore) -> None:
    local.put("recordings/hh-1/rec-1", b"a")
    assert (local.root / "recordings" / "hh-1" / "rec-1").read_bytes() == b"a"
    assert temporaries(local.root) == []


def test_local_delete_leaves_no_empty_folders_behind(local: LocalBlobStore) -> None:
    local.put("audio/household-42/rec-1", b"a")
    local.put("audio/household-7/rec-1", b"b")
    local.delete("audio/household-42/rec-1")
    assert sorted(p.name for p in (local.root / "audio").iterdir()) == ["household-7"]
    local.delete("audio/household-7/rec-1")
    assert list(local.root.iterdir()) == []
    assert local.root.is_dir()


def test_local_key_cannot_be_blob_and_folder(local: LocalBlobStore) -> None:
    local.put("a/b", b"blob")
    with pytest.raises(Conflict) as caught:
        local.put("a/b/c", b"below a blob")
    assert caught.value.code == "blob_key_conflict"
    with pytest.raises(Conflict):
        local.put("a", b"over a folder")
    assert not local.exists("a")
    with pytest.raises(NotFound):
        local.get("a")
    local.delete("a")
    assert local.get("a/b") == b"blob"
    assert temporaries(local.root) == []


def test_local_symlinks_are_not_blobs(local: LocalBlobStore, tmp_path: Path) -> None:
    (tmp_path / "outside").write_bytes(b"not a blob")
    (local.root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(NotFound):
        local.get("link")
    assert not local.exists("link")
    assert list(local.list()) == []


def test_local_temporaries_are_hidden_and_swept(local: LocalBlobStore) -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    local.put("kept/blob", b"real")
    stale = [local.root / f"{TEMPORARY_PREFIX}a1", local.root / "kept" / f"{TEMPORARY_PREFIX}b2"]
    orphan_folder = local.root / "orphan"
    orphan_folder.mkdir()
    stale.append(orphan_folder / f"{TEMPORARY_PREFIX}c3")
    fresh = local.root / "kept" / f"{TEMPORARY_PREFIX}d4"
    for path in [*stale, fresh]:
        path.write_bytes(b"partial")
    for path in stale:
        old = (now - timedelta(hours=2)).timestamp()
        os.utime(path, (old, old))
    fresh_time = (now - timedelta(minutes=5)).timestamp()
    os.utime(fresh, (fresh_time, fresh_time))

    assert [info.key for info in local.list()] == ["kept/blob"]
    assert local.sweep_temporaries(older_than=timedelta(hours=1), now=now) == 3
    assert temporaries(local.root) == [fresh]
    assert not orphan_folder.exists()
    assert local.get("kept/blob") == b"real"
    assert local.sweep_temporaries(older_than=timedelta(0), now=now) == 1
    assert temporaries(local.root) == []


def test_local_sweep_needs_an_aware_time(local: LocalBlobStore) -> None:
    with pytest.raises(ValueError):
        local.sweep_temporaries(timedelta(hours=1), datetime(2030, 1, 1))


CRASH_WRITER = textwrap.dedent(
    """
    import hashlib, random, sys
    from pathlib import Path
    from overheard.blobs import LocalBlobStore

    store = LocalBlobStore(Path(sys.argv[1]))
    rng = random.Random(int(sys.argv[2]))
    index = 0
    while True:
        payload = rng.randbytes(rng.randrange(0, 512 * 1024))
        key = f"slot/{index % 16:02d}" if index % 2 else f"new/{sys.argv[2]}/{index:06d}"
        store.put(key, hashlib.sha256(payload).digest() + payload)
        index += 1
        print(index, flush=True)
    """
)


def kill_writer_midway(root: Path, seed: int, puts_before_kill: int) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(root), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    for _ in range(puts_before_kill):
        assert writer.stdout.readline(), "the writer died on its own"
    time.sleep(random.Random(seed).uniform(0.0, 0.02))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()


def test_local_sigkill_mid_write_leaves_only_complete_blobs(local: LocalBlobStore) -> None:
    for seed in range(4):
        kill_writer_midway(local.root, seed, puts_before_kill=25 + 5 * seed)
    listed = list(local.list())
    assert len(listed) >= 4 * 13  # each round finished at least 13 new keys
    for info in listed:
        content = local.get(info.key)
        assert len(content) == info.size_bytes
        assert is_intact(content), info.key
    leftovers = temporaries(local.root)
    swept = local.sweep_temporaries(timedelta(0), datetime.now(UTC) + timedelta(seconds=1))
    assert swept == len(leftovers)
    assert temporaries(local.root) == []
    assert list(local.list()) == listed
