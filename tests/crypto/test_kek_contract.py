"""What every KEK provider promises, run against each one that is available."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from overheard.crypto.aead import new_data_key, open_sealed, seal
from overheard.crypto.kek import KeyEncryptionKey
from overheard.errors import DecryptionFailed

THREADS = 4
ROUNDS_PER_THREAD = 10


def test_wrap_unwrap_round_trip(any_kek: KeyEncryptionKey) -> None:
    data_key = new_data_key()
    wrapped = any_kek.wrap(data_key)
    assert data_key not in wrapped
    assert any_kek.unwrap(wrapped) == data_key
    assert any_kek.wrapped_version(wrapped) == any_kek.current_version()


def test_wrapping_twice_gives_different_bytes(any_kek: KeyEncryptionKey) -> None:
    data_key = new_data_key()
    assert any_kek.wrap(data_key) != any_kek.wrap(data_key)


def test_envelope_end_to_end(any_kek: KeyEncryptionKey) -> None:
    data_key = new_data_key()
    blob = seal(data_key, b"play jazz", record_id="rec-1", kind="transcript")
    wrapped = any_kek.wrap(data_key)
    assert open_sealed(any_kek.unwrap(wrapped), blob, record_id="rec-1", kind="transcript") == (
        b"play jazz"
    )


def test_rotate_then_old_keys_unwrap_and_new_wraps_use_new_version(
    any_kek: KeyEncryptionKey,
) -> None:
    before = any_kek.current_version()
    old_wrapped = any_kek.wrap(old_key := new_data_key())
    after = any_kek.rotate()
    assert after != before
    assert any_kek.current_version() == after
    new_wrapped = any_kek.wrap(new_key := new_data_key())
    assert any_kek.wrapped_version(old_wrapped) == before
    assert any_kek.wrapped_version(new_wrapped) == after
    assert any_kek.unwrap(old_wrapped) == old_key
    assert any_kek.unwrap(new_wrapped) == new_key


def test_rewrap_after_rotation_keeps_the_data_key(any_kek: KeyEncryptionKey) -> None:
    blob = seal(data_key := new_data_key(), b"x", record_id="r", kind="audio")
    wrapped = any_kek.wrap(data_key)
    any_kek.rotate()
    rewrapped = any_kek.wrap(any_kek.unwrap(wrapped))
    assert any_kek.wrapped_version(rewrapped) == any_kek.current_version()
    assert open_sealed(any_kek.unwrap(rewrapped), blob, record_id="r", kind="audio") == b"x"


def test_tampered_wrapped_key_fails(any_kek: KeyEncryptionKey) -> None:
    wrapped = any_kek.wrap(new_data_key())
    with pytest.raises(DecryptionFailed):
        any_kek.unwrap(wrapped[:-2])
    with pytest.raises(DecryptionFailed):
        any_kek.unwrap(b"")


def test_wrap_refuses_a_key_of_wrong_length(any_kek: KeyEncryptionKey) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        any_kek.wrap(b"\x00" * 16)


def test_concurrent_use_from_threads(any_kek: KeyEncryptionKey) -> None:
    def round_trips(_: int) -> bool:
        keys = [new_data_key() for _ in range(ROUNDS_PER_THREAD)]
        return [any_kek.unwrap(any_kek.wrap(key)) for key in keys] == keys

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        assert all(pool.map(round_trips, range(THREADS)))


def test_scheme_is_named(any_kek: KeyEncryptionKey) -> None:
    assert any_kek.scheme in {"keyfile", "pkcs11", "vault"}
