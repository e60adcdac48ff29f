"""The HashiCorp Vault transit KEK: Vault holds the key versions and does the crypto.

URL: ``vault://host:8200/transit/keys/overheard`` (``vaults://`` for HTTPS), i.e. the transit
mount path, ``/keys/``, and the key name. A wrapped data key is Vault's own ciphertext string
(``vault:v3:…``) as ASCII bytes, so ``vault write transit/rewrap/…`` works on it directly.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from overheard.crypto.aead import DATA_KEY_BYTES
from overheard.crypto.kek import unwrap_failed, version_id
from overheard.errors import ConfigError

REQUEST_TIMEOUT_S = 10.0
"""How long one call to Vault may take, in seconds."""

_SCHEMES = {"vault": "http", "vaults": "https"}
_INSTALL_HINT = "the vault: scheme needs hvac (pip install 'hvac>=2.1,<3')"
_KEYS_SEPARATOR = "/keys/"
_CIPHERTEXT = re.compile(r"vault:(v[1-9][0-9]*):[A-Za-z0-9+/=]+")


@dataclass(frozen=True)
class VaultLocation:
    """Where the transit key lives."""

    address: str
    """Vault's base URL, e.g. ``http://vault:8200``."""
    mount_point: str
    """Path the transit engine is mounted at, e.g. ``transit``."""
    key_name: str
    """Name of the transit key."""


class VaultTransitKek:
    """A KEK held by a Vault transit engine; versions are Vault's key versions."""

    scheme = "vault"

    def __init__(self, location: VaultLocation, *, token: str) -> None:
        hvac = _import_hvac()
        self._location = location
        self._client = hvac.Client(url=location.address, token=token, timeout=REQUEST_TIMEOUT_S)
        self._lock = threading.Lock()  # requests sessions are not documented as thread-safe

    @classmethod
    def from_url(cls, url: str, *, secret: str | None) -> VaultTransitKek:
        """Open the KEK a ``vault[s]://`` URL names, with the Vault token ``secret``."""
        location = parse_vault_url(url)
        if not secret:
            raise ConfigError("a vault: key-encryption key needs a Vault token as secret")
        return cls(location, token=secret)

    def __repr__(self) -> str:
        where = self._location
        key = f"{where.mount_point}/keys/{where.key_name}"
        return f"VaultTransitKek(address={where.address!r}, key={key!r})"

    def current_version(self) -> str:
        """The transit key's latest version, e.g. ``"v3"``."""
        response = self._call("read_key")
        return version_id(int(response["data"]["latest_version"]))

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key with the transit key's latest version."""
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        plaintext = base64.b64encode(data_key).decode("ascii")
        response = self._call("encrypt_data", plaintext=plaintext)
        return str(response["data"]["ciphertext"]).encode("ascii")

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a wrapped data key under whichever version Vault's ciphertext names."""
        self.wrapped_version(wrapped)
        hvac = _import_hvac()
        try:
            response = self._call("decrypt_data", ciphertext=wrapped.decode("ascii"))
        except hvac.exceptions.InvalidRequest:
            raise unwrap_failed() from None
        try:
            data_key = base64.b64decode(response["data"]["plaintext"], validate=True)
        except (binascii.Error, TypeError, KeyError):
            raise unwrap_failed() from None
        if len(data_key) != DATA_KEY_BYTES:
            raise unwrap_failed()
        return data_key

    def rotate(self) -> str:
        """Ask Vault to add a new key version and return its id."""
        response = self._call("rotate_key")
        # Vault >= 1.10 answers with the key; older servers answer 204 with no body.
        if isinstance(response, dict) and "latest_version" in response.get("data", {}):
            return version_id(int(response["data"]["latest_version"]))
        return self.current_version()

    def create_key(self) -> str:
        """Create the transit key (first use of an empty mount) and return its first version."""
        self._call("create_key", key_type="aes256-gcm96")
        return self.current_version()

    def wrapped_version(self, wrapped: bytes) -> str:
        """The version named in Vault's ciphertext prefix (``vault:v3:…`` -> ``"v3"``)."""
        match = _CIPHERTEXT.fullmatch(wrapped.decode("ascii", errors="replace"))
        if match is None:
            raise unwrap_failed()
        return match.group(1)

    def _call(self, method: str, **arguments: Any) -> Any:
        hvac = _import_hvac()
        transit = self._client.secrets.transit
        where = self._location
        try:
            with self._lock:
                return getattr(transit, method)(
                    name=where.key_name, mount_point=where.mount_point, **arguments
                )
        except hvac.exceptions.InvalidPath:
            raise ConfigError(
                f"Vault at {where.address} has no transit key {where.key_name!r} "
                f"mounted at {where.mount_point!r}"
            ) from None
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            raise ConfigError(
                f"Vault at {where.address} refused the token for transit key {where.key_name!r}"
            ) from None


def parse_vault_url(url: str) -> VaultLocation:
    """Read ``vault[s]://host:port/<mount>/keys/<name>`` into a location."""
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.query or parts.fragment:
        # A token in the URL would end up in logs, so this message does not repeat the URL.
        raise ConfigError("a Vault URL carries no credentials, query or fragment")
    mount, sep, name = ("/" + parts.path.strip("/")).rpartition(_KEYS_SEPARATOR)
    mount = mount.strip("/")
    if parts.scheme not in _SCHEMES or not parts.hostname or not sep or not mount or not name:
        raise ConfigError(
            f"bad Vault URL {url!r}; expected vault://host:8200/transit/keys/KEY "
            "(vaults:// for HTTPS)"
        )
    address = f"{_SCHEMES[parts.scheme]}://{parts.netloc}"
    return VaultLocation(address=address, mount_point=mount, key_name=name)


def _import_hvac() -> Any:
    try:
        import hvac
    except ImportError:
        raise ConfigError(_INSTALL_HINT) from None
    return hvac
