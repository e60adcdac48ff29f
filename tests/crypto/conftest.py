"""Fixtures for the key providers: a key file, a fresh SoftHSM2 token, a Vault transit key."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from overheard.crypto.kek import KeyEncryptionKey, create_keyfile, kek_from_url

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
SOFTHSM_TOKEN = "overheard"
SOFTHSM_LABEL = "overheard-kek"
VAULT_ADDR_VARIABLE = "OVERHEARD_TEST_VAULT_ADDR"
VAULT_TOKEN_VARIABLE = "OVERHEARD_TEST_VAULT_TOKEN"


@dataclass(frozen=True)
class SoftHsm:
    """A freshly initialised SoftHSM2 token in a temporary directory."""

    module: str
    token: str
    pin: str
    so_pin: str

    def url(self, label: str = SOFTHSM_LABEL) -> str:
        """The ``pkcs11:`` URL of a key label on this token."""
        return f"pkcs11:module={self.module};token={self.token};label={label}"


@dataclass(frozen=True)
class VaultTransit:
    """A transit engine mounted for one test, with one key in it."""

    address: str
    token: str
    mount_point: str
    key_name: str

    def url(self) -> str:
        """The ``vault[s]://`` URL of the transit key."""
        scheme, _, host = self.address.partition("://")
        vault_scheme = "vaults" if scheme == "https" else "vault"
        return f"{vault_scheme}://{host}/{self.mount_point}/keys/{self.key_name}"


@pytest.fixture
def keyfile_url(tmp_path: Path) -> str:
    """A new key file (version v1) and its ``keyfile:`` URL."""
    path = tmp_path / "kek.json"
    create_keyfile(path)
    return f"keyfile:{path}"


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftHsm]:
    """A SoftHSM2 token initialised in ``tmp_path``; the library is finalised afterwards."""
    if not SOFTHSM_MODULE.exists():
        pytest.skip(f"SoftHSM2 library not found at {SOFTHSM_MODULE} (apt install softhsm2)")
    if shutil.which("softhsm2-util") is None:
        pytest.skip("softhsm2-util not found (apt install softhsm2)")
    pkcs11 = pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    hsm = SoftHsm(str(SOFTHSM_MODULE), SOFTHSM_TOKEN, secrets.token_hex(4), secrets.token_hex(4))
    init = ["softhsm2-util", "--init-token", "--free", "--label", hsm.token]
    subprocess.run(
        [*init, "--pin", hsm.pin, "--so-pin", hsm.so_pin], check=True, capture_output=True
    )
    # SoftHSM reads SOFTHSM2_CONF in C_Initialize: start clean so this test's token dir is used.
    pkcs11.lib(hsm.module).reinitialize()
    yield hsm
    pkcs11.lib(hsm.module).finalize()


@pytest.fixture
def make_pkcs11_kek(softhsm: SoftHsm) -> Iterator[Callable[..., Any]]:
    """Factory of PKCS#11 KEKs on the test token; every one is closed at teardown."""
    from overheard.crypto._pkcs11 import Pkcs11Kek

    opened: list[Pkcs11Kek] = []

    def make(*, label: str = SOFTHSM_LABEL, first_version: bool = True) -> Pkcs11Kek:
        kek = kek_from_url(softhsm.url(label), secret=softhsm.pin)
        assert isinstance(kek, Pkcs11Kek)
        opened.append(kek)
        if first_version and not _has_version(kek):
            kek.rotate()
        return kek

    yield make
    for kek in opened:
        kek.close()


@pytest.fixture
def vault_transit() -> Iterator[VaultTransit]:
    """A transit engine mounted at a random path of the Vault at $OVERHEARD_TEST_VAULT_ADDR."""
    address = os.environ.get(VAULT_ADDR_VARIABLE)
    token = os.environ.get(VAULT_TOKEN_VARIABLE)
    if not address or not token:
        pytest.skip(
            f"no Vault to test against (set {VAULT_ADDR_VARIABLE} and {VAULT_TOKEN_VARIABLE})"
        )
    hvac = pytest.importorskip("hvac", reason="hvac is not installed")
    client = hvac.Client(url=address, token=token)
    mount = f"overheard-test-{secrets.token_hex(4)}"
    client.sys.enable_secrets_engine("transit", path=mount)
    client.secrets.transit.create_key(name="overheard", mount_point=mount)
    yield VaultTransit(address.rstrip("/"), token, mount, "overheard")
    client.sys.disable_secrets_engine(path=mount)


@pytest.fixture(params=["keyfile", "pkcs11", "vault"])
def any_kek(request: pytest.FixtureRequest) -> KeyEncryptionKey:
    """Each provider in turn, with one version ready (skips a provider that is unavailable)."""
    if request.param == "keyfile":
        return kek_from_url(request.getfixturevalue("keyfile_url"))
    if request.param == "pkcs11":
        kek: KeyEncryptionKey = request.getfixturevalue("make_pkcs11_kek")()
        return kek
    transit: VaultTransit = request.getfixturevalue("vault_transit")
    return kek_from_url(transit.url(), secret=transit.token)


def _has_version(kek: KeyEncryptionKey) -> bool:
    from overheard.errors import ConfigError

    try:
        kek.current_version()
    except ConfigError:
        return False
    return True
