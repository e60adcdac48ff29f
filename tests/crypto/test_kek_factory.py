"""Choosing a KEK provider from a URL, and the errors for URLs that name none."""

from __future__ import annotations

import sys

import pytest

from overheard.crypto._keyfile import KeyfileKek
from overheard.crypto.kek import (
    SUPPORTED_SCHEMES,
    kek_from_url,
    split_wrapped,
    version_id,
    version_number,
    wrap_header,
)
from overheard.errors import ConfigError, DecryptionFailed


@pytest.mark.parametrize(
    "url", ["kms://key/1", "file:/tmp/kek.json", "/tmp/kek.json", "", "KEYFILEX:/a"]
)
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        kek_from_url(url)
    assert all(f"{scheme}:" in caught.value.message for scheme in SUPPORTED_SCHEMES)


def test_keyfile_scheme_gives_the_keyfile_provider(keyfile_url: str) -> None:
    kek = kek_from_url(keyfile_url, secret="ignored by the key file")
    assert isinstance(kek, KeyfileKek)
    assert kek.scheme == "keyfile"


@pytest.mark.parametrize(
    ("module", "url", "secret"),
    [
        ("hvac", "vault://127.0.0.1:8200/transit/keys/overheard", "token"),
        ("pkcs11", "pkcs11:module=/m.so;token=t;label=l", "1234"),
    ],
)
def test_missing_optional_library_gives_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, module: str, url: str, secret: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ConfigError, match=f"pip install '.*{module}"):
        kek_from_url(url, secret=secret)


@pytest.mark.parametrize(("number", "version"), [(1, "v1"), (2, "v2"), (10, "v10")])
def test_version_ids(number: int, version: str) -> None:
    assert version_id(number) == version
    assert version_number(version) == number


@pytest.mark.parametrize("text", ["v0", "v01", "1", "V1", "v", "v1a", "vault:v1"])
def test_not_version_ids(text: str) -> None:
    assert version_number(text) is None


def test_wrap_frame_round_trip() -> None:
    header = wrap_header("v12")
    assert split_wrapped(header + b"body") == ("v12", header, b"body")


@pytest.mark.parametrize("version", ["", "é", "v" * 65])
def test_wrap_header_refuses_bad_version_ids(version: str) -> None:
    with pytest.raises(ValueError):
        wrap_header(version)


@pytest.mark.parametrize(
    "frame", [b"", b"\x01", b"\x01\x00rest", b"\x01\x05v1", b"\x01\x02\xff\xfe"]
)
def test_bad_frames_fail_opaquely(frame: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        split_wrapped(frame)
