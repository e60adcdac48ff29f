"""Sealing records: round trips, and every way a sealed record must refuse to open."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overheard.crypto.aead import (
    DATA_KEY_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    associated_data,
    new_data_key,
    open_sealed,
    seal,
)
from overheard.errors import DecryptionFailed

RECORD_ID = "rec-0001"
KIND = "audio"
PLAINTEXT = b"turn the kitchen lights off"

identifiers = st.text(min_size=1, max_size=40)


def _sealed() -> tuple[bytes, bytes]:
    key = new_data_key()
    return key, seal(key, PLAINTEXT, record_id=RECORD_ID, kind=KIND)


def _flip(index: int) -> Callable[[bytes], bytes]:
    def flip(blob: bytes) -> bytes:
        return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]

    return flip


def _opaque_message() -> str:
    key, blob = _sealed()
    with pytest.raises(DecryptionFailed) as caught:
        open_sealed(key, blob[:-1], record_id=RECORD_ID, kind=KIND)
    return caught.value.message


def test_new_data_key_is_32_fresh_random_bytes() -> None:
    keys = {new_data_key() for _ in range(64)}
    assert len(keys) == 64
    assert all(len(key) == DATA_KEY_BYTES for key in keys)


def test_round_trip_and_layout() -> None:
    key, blob = _sealed()
    assert blob[0] == 1
    assert len(blob) == 1 + NONCE_BYTES + len(PLAINTEXT) + TAG_BYTES
    assert PLAINTEXT not in blob
    assert open_sealed(key, blob, record_id=RECORD_ID, kind=KIND) == PLAINTEXT


def test_empty_plaintext_round_trips() -> None:
    key = new_data_key()
    blob = seal(key, b"", record_id=RECORD_ID, kind=KIND)
    assert open_sealed(key, blob, record_id=RECORD_ID, kind=KIND) == b""


def test_same_plaintext_seals_differently_each_time() -> None:
    key = new_data_key()
    first = seal(key, PLAINTEXT, record_id=RECORD_ID, kind=KIND)
    second = seal(key, PLAINTEXT, record_id=RECORD_ID, kind=KIND)
    assert first[1 : 1 + NONCE_BYTES] != second[1 : 1 + NONCE_BYTES]
    assert first != second


TAMPERS: dict[str, Callable[[bytes], bytes]] = {
    "version byte": _flip(0),
    "version 2": lambda blob: b"\x02" + blob[1:],
    "version 0": lambda blob: b"\x00" + blob[1:],
    "nonce": _flip(1),
    "last nonce byte": _flip(NONCE_BYTES),
    "first ciphertext byte": _flip(1 + NONCE_BYTES),
    "tag": _flip(-1),
    "truncated tag": lambda blob: blob[:-1],
    "tag only": lambda blob: blob[:1] + blob[-TAG_BYTES:],
    "header only": lambda blob: blob[: 1 + NONCE_BYTES],
    "empty": lambda blob: b"",
    "appended byte": lambda blob: blob + b"\x00",
    "missing version byte": lambda blob: blob[1:],
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_tampered_blob_fails(tamper: Callable[[bytes], bytes]) -> None:
    key, blob = _sealed()
    with pytest.raises(DecryptionFailed) as caught:
        open_sealed(key, tamper(blob), record_id=RECORD_ID, kind=KIND)
    assert caught.value.message == _opaque_message()


CONTEXTS = {
    "other record id": ("rec-0002", KIND),
    "other kind": (RECORD_ID, "transcript"),
    "both swapped": (KIND, RECORD_ID),
    "record id prefix": ("rec-000", KIND),
    "kind case": (RECORD_ID, "Audio"),
}


@pytest.mark.parametrize(("record_id", "kind"), CONTEXTS.values(), ids=CONTEXTS.keys())
def test_blob_moved_to_another_context_fails(record_id: str, kind: str) -> None:
    key, blob = _sealed()
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob, record_id=record_id, kind=kind)


def test_boundary_between_record_id_and_kind_is_unambiguous() -> None:
    key = new_data_key()
    blob = seal(key, PLAINTEXT, record_id="ab", kind="c")
    assert associated_data(record_id="ab", kind="c") != associated_data(record_id="a", kind="bc")
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob, record_id="a", kind="bc")


def test_wrong_key_fails() -> None:
    _, blob = _sealed()
    with pytest.raises(DecryptionFailed):
        open_sealed(new_data_key(), blob, record_id=RECORD_ID, kind=KIND)


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_key_of_wrong_length_fails_to_open_opaquely(length: int) -> None:
    _, blob = _sealed()
    with pytest.raises(DecryptionFailed):
        open_sealed(b"k" * length, blob, record_id=RECORD_ID, kind=KIND)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_seal_refuses_a_key_of_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"k" * length, PLAINTEXT, record_id=RECORD_ID, kind=KIND)


@pytest.mark.parametrize(("record_id", "kind"), [("", KIND), (RECORD_ID, "")])
def test_seal_refuses_an_empty_context(record_id: str, kind: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        seal(new_data_key(), PLAINTEXT, record_id=record_id, kind=kind)


@given(plaintext=st.binary(max_size=2048), record_id=identifiers, kind=identifiers)
def test_property_round_trip(plaintext: bytes, record_id: str, kind: str) -> None:
    key = new_data_key()
    blob = seal(key, plaintext, record_id=record_id, kind=kind)
    assert open_sealed(key, blob, record_id=record_id, kind=kind) == plaintext


@given(plaintext=st.binary(max_size=256), position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_property_any_bit_flip_fails(plaintext: bytes, position: int, bit: int) -> None:
    key = new_data_key()
    blob = seal(key, plaintext, record_id=RECORD_ID, kind=KIND)
    index = position % len(blob)
    flipped = blob[:index] + bytes([blob[index] ^ (1 << bit)]) + blob[index + 1 :]
    with pytest.raises(DecryptionFailed):
        open_sealed(key, flipped, record_id=RECORD_ID, kind=KIND)


@given(plaintext=st.binary(max_size=256), cut=st.integers(min_value=1))
def test_property_any_truncation_fails(plaintext: bytes, cut: int) -> None:
    key = new_data_key()
    blob = seal(key, plaintext, record_id=RECORD_ID, kind=KIND)
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob[: -(1 + cut % len(blob))], record_id=RECORD_ID, kind=KIND)


@given(
    sealed_for=st.tuples(identifiers, identifiers), opened_as=st.tuples(identifiers, identifiers)
)
def test_property_other_context_fails(
    sealed_for: tuple[str, str], opened_as: tuple[str, str]
) -> None:
    key = new_data_key()
    blob = seal(key, PLAINTEXT, record_id=sealed_for[0], kind=sealed_for[1])
    if opened_as == sealed_for:
        assert open_sealed(key, blob, record_id=opened_as[0], kind=opened_as[1]) == PLAINTEXT
        return
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob, record_id=opened_as[0], kind=opened_as[1])


@given(first=st.tuples(identifiers, identifiers), second=st.tuples(identifiers, identifiers))
def test_property_associated_data_is_injective(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    first_aad = associated_data(record_id=first[0], kind=first[1])
    second_aad = associated_data(record_id=second[0], kind=second[1])
    assert (first_aad == second_aad) == (first == second)


@given(joined=st.text(min_size=3, max_size=40), cuts=st.tuples(st.integers(1), st.integers(1)))
def test_property_shifting_the_boundary_fails(joined: str, cuts: tuple[int, int]) -> None:
    first, second = (1 + cut % (len(joined) - 1) for cut in cuts)
    key = new_data_key()
    blob = seal(key, PLAINTEXT, record_id=joined[:first], kind=joined[first:])
    if first == second:
        return
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob, record_id=joined[:second], kind=joined[second:])
