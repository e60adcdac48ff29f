"""A token that loses this process's session (an HSM restart, a dropped link) is opened again;
a token that stays away is a 503, never a decryption failure that would look like a destroyed key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from overheard.errors import DecryptionFailed, ServiceUnavailable
from overheard.unavailable import backend_unavailable
from tests.crypto.conftest import SoftHsm


def drop_sessions(kek: Any) -> None:
    """Close the key's session and the shared login behind its back: the token logs it out."""
    kek._session.close()
    kek._login._session.close()


def test_lost_session_is_opened_again(make_pkcs11_kek: Callable[..., Any]):
    kek = make_pkcs11_kek()
    data_key = os.urandom(32)
    wrapped = kek.wrap(data_key)
    drop_sessions(kek)
    assert kek.unwrap(wrapped) == data_key
    drop_sessions(kek)
    assert kek.unwrap(kek.wrap(data_key)) == data_key


def test_a_second_key_on_the_token_recovers_too(make_pkcs11_kek: Callable[..., Any]):
    first, second = make_pkcs11_kek(), make_pkcs11_kek()
    wrapped = first.wrap(b"k" * 32)
    drop_sessions(first)
    assert first.unwrap(wrapped) == b"k" * 32
    second._session.close()
    assert second.unwrap(wrapped) == b"k" * 32


def test_tampered_key_is_still_a_decryption_failure(make_pkcs11_kek: Callable[..., Any]):
    kek = make_pkcs11_kek()
    wrapped = bytearray(kek.wrap(os.urandom(32)))
    wrapped[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        kek.unwrap(bytes(wrapped))


def test_token_that_stays_away_is_unavailable(
    make_pkcs11_kek: Callable[..., Any], softhsm: SoftHsm, tmp_path: Path
):
    kek = make_pkcs11_kek()
    wrapped = kek.wrap(os.urandom(32))
    tokens = tmp_path / "tokens"
    tokens.rename(tmp_path / "tokens-away")
    try:
        drop_sessions(kek)
        with pytest.raises(ServiceUnavailable) as caught:
            kek.unwrap(wrapped)
        assert backend_unavailable(caught.value) is caught.value
        assert caught.value.service == "key_provider"
        assert "could not be opened again" in str(caught.value)
    finally:
        (tmp_path / "tokens-away").rename(tokens)
