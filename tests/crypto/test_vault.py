"""The Vault transit KEK: URL parsing always; live tests need $OVERHEARD_TEST_VAULT_ADDR."""

from __future__ import annotations

import base64

import pytest

from overheard.crypto._vault import VaultLocation, VaultTransitKek, parse_vault_url
from overheard.crypto.aead import new_data_key
from overheard.crypto.kek import kek_from_url
from overheard.errors import ConfigError, DecryptionFailed

from .conftest import VaultTransit

URLS = {
    "vault://vault:8200/transit/keys/overheard": ("http://vault:8200", "transit", "overheard"),
    "vaults://vault.example:8200/transit/keys/overheard": (
        "https://vault.example:8200",
        "transit",
        "overheard",
    ),
    "vault://10.0.0.5:8200/team/transit/keys/kek-1/": (
        "http://10.0.0.5:8200",
        "team/transit",
        "kek-1",
    ),
    "vault://[::1]:8200/keys/keys/keys": ("http://[::1]:8200", "keys", "keys"),
}


@pytest.mark.parametrize(("url", "expected"), URLS.items(), ids=URLS.keys())
def test_parse_url(url: str, expected: tuple[str, str, str]) -> None:
    assert parse_vault_url(url) == VaultLocation(*expected)


@pytest.mark.parametrize(
    "url",
    [
        "vault://vault:8200/transit/overheard",
        "vault://vault:8200/keys/overheard",
        "vault://vault:8200/transitkeys/overheard",
        "vault:///transit/keys/overheard",
        "vault://vault:8200/transit/keys/",
        "http://vault:8200/transit/keys/overheard",
    ],
)
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="expected vault://"):
        parse_vault_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "vault://root:s3cr3t@vault:8200/transit/keys/overheard",
        "vault://vault:8200/transit/keys/overheard?token=s3cr3t",
        "vault://vault:8200/transit/keys/overheard#s3cr3t",
    ],
)
def test_credentials_in_the_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_vault_url(url)
    assert "s3cr3t" not in caught.value.message


def test_vault_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="Vault token"):
        kek_from_url("vault://vault:8200/transit/keys/overheard")


def test_opening_does_not_contact_vault_and_hides_the_token() -> None:
    kek = kek_from_url("vaults://vault.invalid:8200/transit/keys/overheard", secret="hvs.s3cr3t")
    assert isinstance(kek, VaultTransitKek)
    assert kek.scheme == "vault"
    assert "s3cr3t" not in repr(kek)
    assert "https://vault.invalid:8200" in repr(kek)


@pytest.mark.parametrize(
    "wrapped", [b"", b"vault:v1:", b"vault:x1:AAAA", b"\x01\x02v1", b"vault:v1:*"]
)
def test_malformed_wrapped_key_fails_before_any_call(wrapped: bytes) -> None:
    kek = kek_from_url("vault://vault.invalid:8200/transit/keys/overheard", secret="t")
    with pytest.raises(DecryptionFailed):
        kek.wrapped_version(wrapped)
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrapped)


def test_live_wrapped_key_is_vault_ciphertext(vault_transit: VaultTransit) -> None:
    kek = kek_from_url(vault_transit.url(), secret=vault_transit.token)
    wrapped = kek.wrap(data_key := new_data_key())
    assert wrapped.startswith(b"vault:v1:")
    assert base64.b64encode(data_key) not in wrapped
    assert kek.unwrap(wrapped) == data_key


def test_live_rotation_is_vaults_key_version(vault_transit: VaultTransit) -> None:
    import hvac

    kek = kek_from_url(vault_transit.url(), secret=vault_transit.token)
    assert kek.rotate() == "v2"
    client = hvac.Client(url=vault_transit.address, token=vault_transit.token)
    info = client.secrets.transit.read_key(
        name=vault_transit.key_name, mount_point=vault_transit.mount_point
    )
    assert info["data"]["latest_version"] == 2
    assert kek.wrap(new_data_key()).startswith(b"vault:v2:")


def test_live_ciphertext_of_another_key_fails(vault_transit: VaultTransit) -> None:
    import hvac

    client = hvac.Client(url=vault_transit.address, token=vault_transit.token)
    client.secrets.transit.create_key(name="other", mount_point=vault_transit.mount_point)
    other_url = vault_transit.url().replace("/keys/overheard", "/keys/other")
    wrapped = kek_from_url(other_url, secret=vault_transit.token).wrap(new_data_key())
    with pytest.raises(DecryptionFailed):
        kek_from_url(vault_transit.url(), secret=vault_transit.token).unwrap(wrapped)


def test_live_missing_key_is_a_config_error(vault_transit: VaultTransit) -> None:
    url = vault_transit.url().replace("/keys/overheard", "/keys/absent")
    with pytest.raises(ConfigError, match="no transit key 'absent'"):
        kek_from_url(url, secret=vault_transit.token).current_version()


def test_live_bad_token_is_a_config_error(vault_transit: VaultTransit) -> None:
    kek = kek_from_url(vault_transit.url(), secret="hvs.not-a-token")
    with pytest.raises(ConfigError, match="refused the token"):
        kek.wrap(new_data_key())
