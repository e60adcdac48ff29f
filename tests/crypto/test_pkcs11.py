"""The PKCS#11 KEK against a real SoftHSM2 token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from overheard.crypto._pkcs11 import Pkcs11Location, parse_pkcs11_url
from overheard.crypto.aead import new_data_key
from overheard.crypto.kek import kek_from_url, wrap_header
from overheard.errors import ConfigError, DecryptionFailed

from .conftest import SOFTHSM_LABEL, SoftHsm

MakeKek = Callable[..., Any]


def _token_keys(softhsm: SoftHsm) -> dict[str, Any]:
    """The AES key objects on the token by label, read through a session of the test's own."""
    import pkcs11

    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.token)
    query = {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY}
    # The KEK under test holds the login (it is shared by the whole process), so no PIN here.
    with token.open() as session:
        return {key[pkcs11.Attribute.LABEL]: key for key in session.get_objects(query)}


def test_first_version_is_created_by_rotate(make_pkcs11_kek: MakeKek) -> None:
    kek = make_pkcs11_kek(first_version=False)
    with pytest.raises(ConfigError, match="rotate"):
        kek.current_version()
    assert kek.rotate() == "v1"
    assert kek.current_version() == "v1"


def test_kek_objects_are_sensitive_and_never_extractable(
    make_pkcs11_kek: MakeKek, softhsm: SoftHsm
) -> None:
    import pkcs11
    from pkcs11 import Attribute

    kek = make_pkcs11_kek()
    kek.rotate()
    with_labels = _token_keys(softhsm)
    assert set(with_labels) >= {f"{SOFTHSM_LABEL}-v1", f"{SOFTHSM_LABEL}-v2"}
    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.token)
    with token.open(rw=True) as session:
        for label in (f"{SOFTHSM_LABEL}-v1", f"{SOFTHSM_LABEL}-v2"):
            key = session.get_key(label=label)
            assert key[Attribute.TOKEN] is True
            assert key[Attribute.PRIVATE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.VALUE_LEN] == 32
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]
            wrapper: Any = session.generate_key(pkcs11.KeyType.AES, 256, label="probe-wrapper")
            with pytest.raises(pkcs11.exceptions.KeyUnextractable):
                wrapper.wrap_key(key)


def test_versions_are_separate_objects_on_the_token(
    make_pkcs11_kek: MakeKek, softhsm: SoftHsm
) -> None:
    kek = make_pkcs11_kek()
    for expected in ("v2", "v3"):
        assert kek.rotate() == expected
    labels = {label for label in _token_keys(softhsm) if label.startswith(SOFTHSM_LABEL)}
    assert labels == {f"{SOFTHSM_LABEL}-v{n}" for n in (1, 2, 3)}


def test_a_second_instance_sees_the_same_versions(make_pkcs11_kek: MakeKek) -> None:
    first = make_pkcs11_kek()
    wrapped_v1 = first.wrap(key_v1 := new_data_key())
    second = make_pkcs11_kek()
    assert second.rotate() == "v2"
    wrapped_v2 = second.wrap(key_v2 := new_data_key())
    # first scanned before v2 existed: unwrap finds it, current_version follows after the rescan.
    assert first.unwrap(wrapped_v2) == key_v2
    assert second.unwrap(wrapped_v1) == key_v1
    assert first.current_version() == "v2"


def test_rotations_of_two_processes_at_once_never_share_a_version(
    make_pkcs11_kek: MakeKek, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes rotating at once each scanned the token, found v1 and generated a v2: two
    objects under one label, and a later scan kept either, so the data keys one of them had
    re-wrapped no longer unwrapped. A rotation that finds its version taken twice removes its
    own object and takes the next number; a scan ignores a version held by two objects."""
    from overheard.crypto._pkcs11 import Pkcs11Kek

    first, second = make_pkcs11_kek(), make_pkcs11_kek()
    generate, me, other = Pkcs11Kek._generate, threading.get_ident(), []

    def rotate_second() -> None:
        other.append(second.rotate())
        other.append(second.wrap(key_b))

    def generate_after_another_rotation(self: Any, version: str) -> Any:
        if threading.get_ident() == me and not other:
            racer = threading.Thread(target=rotate_second)
            racer.start()
            racer.join(30)  # it scanned the same versions as this rotation, and generated first
        return generate(self, version)

    monkeypatch.setattr(Pkcs11Kek, "_generate", generate_after_another_rotation)
    key_a, key_b = new_data_key(), new_data_key()
    version_a = first.rotate()
    wrapped_a = first.wrap(key_a)
    version_b, wrapped_b = other
    assert {version_a, version_b} == {"v2", "v3"}
    final = make_pkcs11_kek()
    assert (final.unwrap(wrapped_a), final.unwrap(wrapped_b)) == (key_a, key_b)
    assert final.current_version() == "v3"


def test_closing_one_instance_keeps_the_other_logged_in(make_pkcs11_kek: MakeKek) -> None:
    first, second = make_pkcs11_kek(), make_pkcs11_kek()
    wrapped = first.wrap(data_key := new_data_key())
    first.close()
    first.close()  # closing twice is harmless
    assert second.unwrap(wrapped) == data_key
    for use_after_close in (
        first.rotate,
        lambda: first.wrap(data_key),
        lambda: first.unwrap(wrapped),
    ):
        with pytest.raises(ConfigError, match="closed"):
            use_after_close()


def test_labels_are_kept_apart(make_pkcs11_kek: MakeKek) -> None:
    kek_a, kek_b = make_pkcs11_kek(label="kek-a"), make_pkcs11_kek(label="kek-a-v1-b")
    assert (kek_a.current_version(), kek_b.current_version()) == ("v1", "v1")
    with pytest.raises(DecryptionFailed):
        kek_b.unwrap(kek_a.wrap(new_data_key()))


def test_relabelled_version_fails(make_pkcs11_kek: MakeKek) -> None:
    kek = make_pkcs11_kek()
    wrapped_v1 = kek.wrap(new_data_key())
    kek.rotate()
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrap_header("v2") + wrapped_v1[len(wrap_header("v1")) :])


def test_unknown_version_fails(make_pkcs11_kek: MakeKek) -> None:
    kek = make_pkcs11_kek()
    wrapped = kek.wrap(new_data_key())
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrap_header("v9") + wrapped[len(wrap_header("v1")) :])


def test_wrong_pin_is_a_config_error(softhsm: SoftHsm) -> None:
    with pytest.raises(ConfigError, match="check the user PIN") as caught:
        kek_from_url(softhsm.url(), secret="0000-wrong")
    assert "0000-wrong" not in caught.value.message


def test_missing_pin_is_a_config_error(softhsm: SoftHsm) -> None:
    with pytest.raises(ConfigError, match="user PIN"):
        kek_from_url(softhsm.url())


def test_unknown_token_is_a_config_error(softhsm: SoftHsm) -> None:
    url = softhsm.url().replace(f"token={softhsm.token}", "token=absent")
    with pytest.raises(ConfigError, match="no PKCS#11 token labelled 'absent'"):
        kek_from_url(url, secret=softhsm.pin)


def test_missing_module_is_a_config_error() -> None:
    url = "pkcs11:module=/nonexistent/libpkcs11.so;token=t;label=l"
    with pytest.raises(ConfigError, match="cannot load PKCS#11 module"):
        kek_from_url(url, secret="1234")


def test_parse_url() -> None:
    url = "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=over%3Bheard;label=overheard-kek"
    assert parse_pkcs11_url(url) == Pkcs11Location(
        module="/usr/lib/softhsm/libsofthsm2.so", token="over;heard", label="overheard-kek"
    )


@pytest.mark.parametrize(
    "url",
    [
        "pkcs11:",
        "pkcs11:module=/m.so;token=t",
        "pkcs11:module=/m.so;token=t;label=l;pin=1234",
        "pkcs11:module=/m.so;token=t;label=",
        "pkcs11:module=/m.so;module=/n.so;token=t;label=l",
        "pkcs11:module=/m.so;token=t;label",
    ],
)
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="pkcs11: URL"):
        parse_pkcs11_url(url)


def test_repr_does_not_show_the_pin(make_pkcs11_kek: MakeKek, softhsm: SoftHsm) -> None:
    text = repr(make_pkcs11_kek())
    assert softhsm.pin not in text
    assert SOFTHSM_LABEL in text
