"""The key-file KEK: file creation and permissions, wrapping, rotation across instances."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from overheard.crypto import _keyfile
from overheard.crypto._keyfile import KeyfileKek
from overheard.crypto.aead import new_data_key
from overheard.crypto.kek import create_keyfile, kek_from_url, wrap_header
from overheard.errors import ConfigError, DecryptionFailed


def _path(url: str) -> Path:
    return Path(url.removeprefix("keyfile:"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_keyfile_writes_one_private_version(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    create_keyfile(path)
    document = json.loads(path.read_text())
    assert _mode(path) == 0o600
    assert document["current"] == "v1"
    assert set(document["keys"]) == {"v1"}
    assert list(tmp_path.iterdir()) == [path]


def test_create_keyfile_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    create_keyfile(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        create_keyfile(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_two_key_files_hold_different_keys(tmp_path: Path) -> None:
    create_keyfile(tmp_path / "a.json")
    create_keyfile(tmp_path / "b.json")
    first = json.loads((tmp_path / "a.json").read_text())["keys"]["v1"]
    assert first != json.loads((tmp_path / "b.json").read_text())["keys"]["v1"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o700 | 0o004])
def test_group_or_world_access_is_refused(keyfile_url: str, mode: int) -> None:
    os.chmod(_path(keyfile_url), mode)
    with pytest.raises(ConfigError, match=f"mode {mode:04o}.*chmod 600"):
        kek_from_url(keyfile_url)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(keyfile_url: str, mode: int) -> None:
    os.chmod(_path(keyfile_url), mode)
    assert kek_from_url(keyfile_url).current_version() == "v1"


def test_both_url_spellings_open_the_same_file(keyfile_url: str) -> None:
    wrapped = kek_from_url(keyfile_url).wrap(data_key := new_data_key())
    triple_slash = "keyfile://" + keyfile_url.removeprefix("keyfile:")
    assert kek_from_url(triple_slash).unwrap(wrapped) == data_key


@pytest.mark.parametrize("url", ["keyfile:", "keyfile:kek.json", "keyfile:./kek.json"])
def test_relative_or_empty_path_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="absolute path"):
        kek_from_url(url)


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="create_keyfile"):
        kek_from_url(f"keyfile:{tmp_path / 'absent.json'}")


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format": "other/1", "current": "v1", "keys": {}}',
        b'{"format": "overheard-kek/1", "current": "v2", "keys": {"v1": "AAAA"}}',
        b'{"format": "overheard-kek/1", "current": "v1", "keys": {"v1": "c2hvcnQ="}}',
    ],
)
def test_malformed_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kek.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not a valid"):
        kek_from_url(f"keyfile:{path}")


def test_symlink_is_refused(tmp_path: Path) -> None:
    create_keyfile(real := tmp_path / "real.json")
    (link := tmp_path / "link.json").symlink_to(real)
    with pytest.raises(ConfigError, match="cannot be opened"):
        kek_from_url(f"keyfile:{link}")


def test_rotate_keeps_old_versions_and_wraps_with_the_new_one(keyfile_url: str) -> None:
    kek = kek_from_url(keyfile_url)
    old_key = new_data_key()
    old_wrapped = kek.wrap(old_key)
    assert kek.rotate() == "v2"
    new_wrapped = kek.wrap(new_key := new_data_key())
    assert (kek.wrapped_version(old_wrapped), kek.wrapped_version(new_wrapped)) == ("v1", "v2")
    assert kek.unwrap(old_wrapped) == old_key
    assert kek.unwrap(new_wrapped) == new_key
    assert _mode(_path(keyfile_url)) == 0o600
    assert len(list(_path(keyfile_url).parent.iterdir())) == 1


def test_a_rotation_whose_write_fails_keeps_the_old_file_and_leaves_no_temporary(
    keyfile_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync failing (EIO on a failing disk) mid-rotation: the old key file stays whole and in
    force. Before, the synced temporary holding every KEK version was left beside it."""
    path = _path(keyfile_url)
    before = path.read_bytes()
    kek = kek_from_url(keyfile_url)

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="Input/output"):
        kek.rotate()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert list(path.parent.iterdir()) == [path]
    assert kek_from_url(keyfile_url).current_version() == "v1"


def test_rotation_is_persisted_for_new_instances(keyfile_url: str) -> None:
    first = kek_from_url(keyfile_url)
    wrapped_v1 = first.wrap(key_v1 := new_data_key())
    first.rotate()
    wrapped_v2 = first.wrap(key_v2 := new_data_key())
    reopened = kek_from_url(keyfile_url)
    assert reopened.current_version() == "v2"
    assert reopened.unwrap(wrapped_v1) == key_v1
    assert reopened.unwrap(wrapped_v2) == key_v2


def test_instance_picks_up_a_rotation_made_elsewhere(keyfile_url: str) -> None:
    reader, rotator = kek_from_url(keyfile_url), kek_from_url(keyfile_url)
    assert rotator.rotate() == "v2"
    assert reader.current_version() == "v1"
    assert reader.unwrap(rotator.wrap(data_key := new_data_key())) == data_key
    assert reader.current_version() == "v2"


def test_rotations_from_two_instances_never_lose_a_version(keyfile_url: str) -> None:
    first, second = kek_from_url(keyfile_url), kek_from_url(keyfile_url)
    wrapped = {first.rotate(): first.wrap(key_a := new_data_key())}
    wrapped[second.rotate()] = second.wrap(key_b := new_data_key())
    assert set(wrapped) == {"v2", "v3"}
    final = kek_from_url(keyfile_url)
    assert (final.unwrap(wrapped["v2"]), final.unwrap(wrapped["v3"])) == (key_a, key_b)


def test_rotations_of_two_processes_at_once_never_lose_a_version(
    keyfile_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes rotating at once (each instance its own process: its thread lock is its own)
    each read the file, added "v2" and replaced it: the later replace dropped the other's version,
    and every data key that process re-wrapped under it was lost. The file is locked around the
    read and the replace, so the second rotation waits and adds "v3"."""
    first, second = kek_from_url(keyfile_url), kek_from_url(keyfile_url)
    replace, me, other = _keyfile._replace, threading.get_ident(), []

    def rotate_second() -> None:
        other.append(second.rotate())
        other.append(second.wrap(key_b))

    def replace_after_another_rotation_began(path: Path, content: bytes) -> None:
        if threading.get_ident() == me and not other:
            racer = threading.Thread(target=rotate_second)
            racer.start()
            racer.join(0.5)  # done before this replace (the lost version), or waiting for it
        replace(path, content)

    monkeypatch.setattr(_keyfile, "_replace", replace_after_another_rotation_began)
    key_a, key_b = new_data_key(), new_data_key()
    version_a = first.rotate()
    wrapped_a = first.wrap(key_a)
    for _ in range(100):
        if len(other) == 2:
            break
        time.sleep(0.05)
    version_b, wrapped_b = other
    assert {version_a, version_b} == {"v2", "v3"}
    final = kek_from_url(keyfile_url)
    assert (final.unwrap(wrapped_a), final.unwrap(wrapped_b)) == (key_a, key_b)


def test_key_wrapped_by_another_file_fails(tmp_path: Path, keyfile_url: str) -> None:
    create_keyfile(other := tmp_path / "other.json")
    wrapped = kek_from_url(f"keyfile:{other}").wrap(new_data_key())
    with pytest.raises(DecryptionFailed):
        kek_from_url(keyfile_url).unwrap(wrapped)


def test_relabelled_version_fails(keyfile_url: str) -> None:
    kek = kek_from_url(keyfile_url)
    wrapped_v1 = kek.wrap(new_data_key())
    kek.rotate()
    relabelled = wrap_header("v2") + wrapped_v1[len(wrap_header("v1")) :]
    with pytest.raises(DecryptionFailed):
        kek.unwrap(relabelled)


@pytest.mark.parametrize(
    "damage",
    [
        lambda wrapped: wrapped[:-1],
        lambda wrapped: wrapped[:-1] + bytes([wrapped[-1] ^ 1]),
        lambda wrapped: b"\x02" + wrapped[1:],
        lambda wrapped: wrapped[:1] + b"\x09" + wrapped[2:],
        lambda wrapped: wrap_header("v7") + wrapped[len(wrap_header("v1")) :],
        lambda wrapped: wrapped[:4],
        lambda wrapped: b"",
    ],
    ids=["truncated", "tag", "format", "length", "unknown version", "header only", "empty"],
)
def test_damaged_wrapped_key_fails(keyfile_url: str, damage: object) -> None:
    kek = kek_from_url(keyfile_url)
    wrapped = kek.wrap(new_data_key())
    assert callable(damage)
    with pytest.raises(DecryptionFailed):
        kek.unwrap(damage(wrapped))


def test_wrap_refuses_a_key_of_wrong_length(keyfile_url: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        kek_from_url(keyfile_url).wrap(b"short")


def test_repr_names_the_file_not_the_key(keyfile_url: str) -> None:
    kek = kek_from_url(keyfile_url)
    assert isinstance(kek, KeyfileKek)
    key_b64 = json.loads(_path(keyfile_url).read_text())["keys"]["v1"]
    assert key_b64 not in repr(kek)
    assert str(_path(keyfile_url)) in repr(kek)
