"""The PKCS#11 KEK: one non-extractable AES-256 key object on an HSM token per version.

URL: ``pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=overheard;label=overheard-kek``.
Version ``vN`` is the secret-key object labelled ``<label>-vN``. Wrapping is AES-GCM computed on the
token, with the frame header (which names the version) as associated data; the KEK never leaves it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from overheard.crypto.aead import DATA_KEY_BYTES, NONCE_BYTES
from overheard.crypto.kek import (
    split_wrapped,
    unwrap_failed,
    version_id,
    version_number,
    wrap_header,
)
from overheard.errors import ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    from pkcs11 import Session, Token

KEK_BITS = 256
"""Size of each KEK object on the token, in bits."""
GCM_TAG_BITS = 128
"""Length of the GCM tag the token appends, in bits."""
URL_ATTRIBUTES = ("module", "token", "label")
"""The attributes a ``pkcs11:`` URL must carry, each exactly once."""

OPEN_ATTEMPTS = 8
"""Tries to find the token and log in before giving up (tokens flicker while others start)."""
OPEN_RETRY_BASE_S = 0.05
"""First pause between tries, doubled each time up to ``OPEN_RETRY_MAX_S``, with jitter."""
OPEN_RETRY_MAX_S = 1.0
"""Longest pause between two tries, in seconds."""
ROTATE_ATTEMPTS = 8
"""Versions a rotation tries when rotations elsewhere keep taking the same one."""
TRANSIENT_ERRORS = (
    "NoSuchToken",
    "TokenNotPresent",
    "TokenNotRecognised",
    "GeneralError",
    "DeviceError",
    "DeviceMemory",
    "DeviceRemoved",
    "FunctionFailed",
    "HostMemory",
    "SessionCount",
    "UserPinNotInitialized",
)
"""PKCS#11 errors worth another try: SoftHSM2 reports these (even "PIN not initialised") while
another process writes the token directory, and a network HSM while it is busy."""
SESSION_LOST_ERRORS = (
    "SessionHandleInvalid",
    "SessionClosed",
    "UserNotLoggedIn",
    "DeviceRemoved",
    "DeviceError",
    "TokenNotPresent",
    "TokenNotRecognised",
    "CryptokiNotInitialised",
)
"""PKCS#11 errors that mean this process's session or login is gone (the HSM restarted, the
network to it dropped): the key opens its session again once, then reports the provider away."""

log = logging.getLogger(__name__)

# python-pkcs11 mixes encrypt/decrypt into key objects at run time; its static types lack them.
KeyObject = Any

_SCHEME_PREFIX = "pkcs11:"
_INSTALL_HINT = "the pkcs11: scheme needs python-pkcs11 (pip install 'python-pkcs11>=0.7,<1')"


@dataclass(frozen=True)
class Pkcs11Location:
    """Where the KEK lives: the PKCS#11 module, the token label and the key label stem."""

    module: str
    """Path of the PKCS#11 shared library."""
    token: str
    """Label of the token holding the KEK objects."""
    label: str
    """Key label stem; version ``vN`` is labelled ``<label>-vN``."""


class Pkcs11Kek:
    """A KEK whose versions are non-extractable AES key objects on a PKCS#11 token."""

    scheme = "pkcs11"

    def __init__(self, location: Pkcs11Location, *, pin: str) -> None:
        pkcs11 = _import_pkcs11()
        self._location = location
        self._lock = threading.Lock()
        self._login: _Login | None = None
        self._session: Session | None = None
        self._versions: dict[str, KeyObject] = {}
        self._pin = pin
        self._closed = False
        _with_retries(pkcs11, location, lambda: self._open(pkcs11, pin))

    def _open(self, pkcs11: Any, pin: str) -> None:
        token = _find_token(pkcs11, self._location)
        self._login = _Login.acquire(token, self._location, pin)
        try:
            self._session = token.open(rw=True)
            self._versions = self._scan()
        except BaseException:
            self._drop()
            raise

    @classmethod
    def from_url(cls, url: str, *, secret: str | None) -> Pkcs11Kek:
        """Open the KEK a ``pkcs11:`` URL names, logging in with the user PIN ``secret``."""
        location = parse_pkcs11_url(url)
        if not secret:
            raise ConfigError("a pkcs11: key-encryption key needs the token's user PIN as secret")
        return cls(location, pin=secret)

    def __repr__(self) -> str:
        where = self._location
        return f"Pkcs11Kek(token={where.token!r}, label={where.label!r}, module={where.module!r})"

    def __enter__(self) -> Pkcs11Kek:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this instance's session (and log out when it is the last one on the token)."""
        with self._lock:
            self._closed = True
            self._drop()

    def _drop(self, *, lost: bool = False) -> None:
        """Let go of the session and this instance's share of the login (the caller holds the lock
        or owns the instance alone); ``lost``: the token no longer knows them."""
        session, self._session = self._session, None
        try:
            if session is not None:
                _close_quietly(session) if lost else session.close()
        finally:
            login, self._login = self._login, None
            if login is not None:
                login.release(invalidate=lost)

    def current_version(self) -> str:
        """The version id that ``wrap`` uses now (the highest on the token)."""
        with self._lock:
            return self._current_locked()

    def wrap(self, data_key: bytes) -> bytes:
        """Encrypt a data key on the token under the current version."""
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        pkcs11 = _import_pkcs11()
        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            version = self._current_locked()
            header = wrap_header(version)
            params = pkcs11.GCMParams(nonce, header, GCM_TAG_BITS)
            body = self._on_token_locked(
                lambda: self._versions[version].encrypt(
                    data_key, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params
                )
            )
        return header + nonce + bytes(body)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt a wrapped data key on the token under whichever version it names."""
        pkcs11 = _import_pkcs11()
        version, header, body = split_wrapped(wrapped)
        if len(body) < NONCE_BYTES:
            raise unwrap_failed()
        params = pkcs11.GCMParams(body[:NONCE_BYTES], header, GCM_TAG_BITS)
        lost = _errors(pkcs11, SESSION_LOST_ERRORS)

        def decrypt() -> bytes:
            key = self._key_for_locked(version)
            if key is None:
                raise unwrap_failed()
            try:
                return bytes(key.decrypt(
                    body[NONCE_BYTES:], mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params
                ))  # fmt: skip
            except lost:
                raise  # the session is gone, not the key: opened again by _on_token_locked
            except pkcs11.PKCS11Error:
                # Tokens report a bad tag as a generic error; nothing else is safe to say.
                raise unwrap_failed() from None

        with self._lock:
            self._open_session()
            data_key = self._on_token_locked(decrypt)
        if len(data_key) != DATA_KEY_BYTES:
            raise unwrap_failed()
        return bytes(data_key)

    def rotate(self) -> str:
        """Generate the next version's key object on the token and return its id.

        Another process rotating at the same moment may generate the same version: the token is
        scanned again after the generation, and a version held by two objects is given up by
        whoever sees it so (its own object destroyed) for the next number. A version is used only
        once its object was alone under its label.
        """
        with self._lock:
            for _ in range(ROTATE_ATTEMPTS):
                numbers = [version_number(name) or 0 for name in self._labelled()]
                new_version = version_id(max(numbers, default=0) + 1)
                key = self._generate(new_version)
                if len(self._labelled().get(new_version, [])) == 1:
                    self._versions = self._scan()
                    self._versions[new_version] = key
                    return new_version
                key.destroy()  # another rotation took this number too: try the next one
                time.sleep(random.uniform(0, OPEN_RETRY_BASE_S))  # noqa: S311 - jitter
            raise ServiceUnavailable(
                "another rotation kept taking the same KEK version; try again",
                service="key_provider",
            )

    def wrapped_version(self, wrapped: bytes) -> str:
        """The version id named in a wrapped data key."""
        return split_wrapped(wrapped)[0]

    def _current_locked(self) -> str:
        self._open_session()
        if not self._versions:
            where = self._location
            raise ConfigError(
                f"token {where.token!r} holds no key labelled {where.label}-v1; "
                "rotate() creates the first version"
            )
        return max(self._versions, key=lambda name: version_number(name) or 0)

    def _key_for_locked(self, version: str) -> KeyObject | None:
        if version not in self._versions:
            # Another process may have rotated since this instance scanned the token.
            self._versions = self._scan()
        return self._versions.get(version)

    def _on_token_locked(self, operation: Callable[[], Any]) -> Any:
        """Run ``operation``; if the token lost this process's session, open it again and retry once.

        A second loss means the token is away: the caller gets ServiceUnavailable (503), never a
        decryption failure, so an HSM restart is not mistaken for a destroyed key.
        """
        pkcs11 = _import_pkcs11()
        lost = _errors(pkcs11, SESSION_LOST_ERRORS)
        try:
            return operation()
        except lost as exc:
            log.warning("PKCS#11 session lost (%s); opening it again", type(exc).__name__)
        self._reopen_locked(pkcs11)
        try:
            return operation()
        except lost as exc:
            raise ServiceUnavailable(
                f"the HSM token {self._location.token!r} lost the session ({type(exc).__name__})",
                service="key_provider",
            ) from None

    def _reopen_locked(self, pkcs11: Any) -> None:
        """Log in and open the session again; ServiceUnavailable while the token is not back."""
        self._drop(lost=True)
        try:
            _with_retries(pkcs11, self._location, lambda: self._open(pkcs11, self._pin))
        except ConfigError as exc:  # the token is not back (yet): away, not misconfigured
            raise ServiceUnavailable(
                f"the HSM token {self._location.token!r} could not be opened again: {exc}",
                service="key_provider",
            ) from None

    def _open_session(self) -> Session:
        if self._session is None and not self._closed:
            self._reopen_locked(_import_pkcs11())  # an earlier reopen found the token away
        if self._session is None:
            raise ConfigError("this PKCS#11 key-encryption key has been closed")
        return self._session

    def _scan(self) -> dict[str, KeyObject]:
        """The token's versions; one held by two objects (rotations at once) is left out until
        the rotation that gave it up has removed its own."""
        return {version: keys[0] for version, keys in self._labelled().items() if len(keys) == 1}

    def _labelled(self) -> dict[str, list[KeyObject]]:
        """Every AES key object under this KEK's label, by version."""
        pkcs11 = _import_pkcs11()
        pattern = re.compile(re.escape(self._location.label) + r"-(v[1-9][0-9]*)")
        query = {
            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
            pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.AES,
        }
        found: dict[str, list[KeyObject]] = {}
        for key in self._open_session().get_objects(query):
            match = pattern.fullmatch(key[pkcs11.Attribute.LABEL])
            if match:
                found.setdefault(match.group(1), []).append(key)
        return found

    def _generate(self, version: str) -> KeyObject:
        pkcs11 = _import_pkcs11()
        attribute, flag = pkcs11.Attribute, pkcs11.MechanismFlag
        label = f"{self._location.label}-{version}"
        template = {
            attribute.SENSITIVE: True,
            attribute.EXTRACTABLE: False,
            attribute.PRIVATE: True,
            attribute.MODIFIABLE: False,
        }
        return self._open_session().generate_key(
            pkcs11.KeyType.AES,
            KEK_BITS,
            label=label,
            id=label.encode("utf-8"),
            store=True,
            capabilities=flag.ENCRYPT | flag.DECRYPT,
            template=template,
        )


def parse_pkcs11_url(url: str) -> Pkcs11Location:
    """Read ``pkcs11:module=…;token=…;label=…`` (values may be percent-encoded)."""
    if not url.startswith(_SCHEME_PREFIX):
        raise ConfigError(f"not a pkcs11: URL: {url!r}")
    attributes: dict[str, str] = {}
    for part in url[len(_SCHEME_PREFIX) :].split(";"):
        name, sep, value = part.partition("=")
        if not sep or name not in URL_ATTRIBUTES or name in attributes or not value:
            raise ConfigError(
                f"bad pkcs11: URL part {part!r}; expected "
                "pkcs11:module=/path/libpkcs11.so;token=LABEL;label=KEY_LABEL"
            )
        attributes[name] = unquote(value)
    missing = [name for name in URL_ATTRIBUTES if name not in attributes]
    if missing:
        raise ConfigError(f"pkcs11: URL lacks {', '.join(missing)}")
    return Pkcs11Location(**attributes)


class _Login:
    """One login per token per process, shared by every instance and counted.

    PKCS#11 login state belongs to the whole application: a second ``C_Login`` fails and any
    ``C_Logout`` logs out every session, so instances share one logged-in session.
    """

    _registry: dict[tuple[str, str], _Login] = {}  # noqa: RUF012 - process-wide by design
    _registry_lock = threading.Lock()

    def __init__(self, key: tuple[str, str], session: Session) -> None:
        self._key = key
        self._session = session
        self._users = 0

    @classmethod
    def acquire(cls, token: Token, location: Pkcs11Location, pin: str) -> _Login:
        """The shared login for this token, logging in if no instance has yet."""
        key = (location.module, location.token)
        with cls._registry_lock:
            login = cls._registry.get(key)
            if login is None:
                login = cls(key, _log_in(token, location, pin))
                cls._registry[key] = login
            login._users += 1
            return login

    def release(self, *, invalidate: bool = False) -> None:
        """Drop one user; the last one closes the login session, which logs out.

        ``invalidate`` (the token lost the login) also forgets this login for the instances that
        come next, so they log in again instead of sharing a dead session.
        """
        with self._registry_lock:
            self._users -= 1
            current = self._registry.get(self._key) is self
            if current and (invalidate or self._users == 0):
                del self._registry[self._key]
            if self._users == 0:
                _close_quietly(self._session)


def _close_quietly(session: Session) -> None:
    """Close a session that may already be gone on the token."""
    pkcs11 = _import_pkcs11()
    try:
        session.close()
    except pkcs11.PKCS11Error as exc:
        log.info("closing a PKCS#11 session failed: %s", type(exc).__name__)


def _errors(pkcs11: Any, names: tuple[str, ...]) -> tuple[type[Exception], ...]:
    """The python-pkcs11 exception classes of these names (those the library defines)."""
    return tuple(getattr(pkcs11.exceptions, n) for n in names if hasattr(pkcs11.exceptions, n))


def _log_in(token: Token, location: Pkcs11Location, pin: str) -> Session:
    pkcs11 = _import_pkcs11()
    try:
        return token.open(user_pin=pin)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        return token.open()  # someone else in this process logged in; the state is shared
    except (
        pkcs11.exceptions.PinIncorrect,
        pkcs11.exceptions.PinInvalid,
        pkcs11.exceptions.PinLenRange,
        pkcs11.exceptions.PinLocked,
    ) as exc:
        raise ConfigError(
            f"PKCS#11 login to token {location.token!r} refused ({type(exc).__name__}); "
            "check the user PIN"
        ) from None


def _find_token(pkcs11: Any, location: Pkcs11Location) -> Token:
    try:
        library = pkcs11.lib(location.module)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot load PKCS#11 module {location.module!r}: {exc}") from None
    token: Token = library.get_token(token_label=location.token)
    return token


def _with_retries(pkcs11: Any, location: Pkcs11Location, action: Callable[[], None]) -> None:
    """Run ``action`` (find the token, log in, scan), retrying transient PKCS#11 errors."""
    transient = tuple(getattr(pkcs11.exceptions, name) for name in TRANSIENT_ERRORS)
    started = time.monotonic()
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            action()
            return
        except transient as exc:
            if attempt == OPEN_ATTEMPTS:
                raise _gave_up(pkcs11, location, exc, attempt, time.monotonic() - started) from None
            log.info("PKCS#11 open try %d failed (%s); retrying", attempt, type(exc).__name__)
            _refresh_slots(pkcs11, location)
            pause = min(OPEN_RETRY_MAX_S, OPEN_RETRY_BASE_S * 2 ** (attempt - 1))
            time.sleep(pause * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret


def _refresh_slots(pkcs11: Any, location: Pkcs11Location) -> None:
    # Many modules (SoftHSM2 among them) read their token list once, at C_Initialize; a token
    # missed while another process rewrote it stays missing until the library starts again. That
    # is only safe while no key of this process is open on the module.
    with _Login._registry_lock:
        if any(key[0] == location.module for key in _Login._registry):
            return
        try:
            pkcs11.lib(location.module).reinitialize()
        except pkcs11.PKCS11Error as exc:
            log.info("re-initialising %s failed: %s", location.module, type(exc).__name__)


def _gave_up(
    pkcs11: Any, location: Pkcs11Location, exc: Exception, tries: int, spent_s: float
) -> Exception:
    where = f"after {tries} tries over {spent_s:.1f} s"
    if isinstance(exc, pkcs11.exceptions.NoSuchToken):
        return ConfigError(
            f"no PKCS#11 token labelled {location.token!r} in {location.module} {where}; "
            "check the token label in OVERHEARD_KEK_URL (softhsm2-util --show-slots lists "
            "tokens; for SoftHSM2 the token directory in SOFTHSM2_CONF must be readable)"
        )
    return ServiceUnavailable(
        f"the HSM token {location.token!r} kept failing ({type(exc).__name__}) {where}",
        service="key_provider",
    )


def _import_pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise ConfigError(_INSTALL_HINT) from None
    return pkcs11
