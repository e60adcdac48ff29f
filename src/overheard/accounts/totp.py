"""Time-based one-time codes (RFC 6238, 30 s steps, 6 digits): secrets sealed at rest, replay refused."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno
from markupsafe import Markup

from ..crypto.aead import open_sealed, seal
from .secrets import AccountKeys

ISSUER = "Overheard"
"""Issuer shown by authenticator apps."""
STEP_S = 30
"""Seconds per code."""
DIGITS = 6
"""Digits per code."""
VALID_WINDOW_STEPS = 1
"""Steps either side of now whose codes are still accepted (clock drift)."""
SEAL_KIND = "totp"
QR_SCALE = 5
"""Pixels per QR module in the rendered SVG."""


def new_secret() -> str:
    """A fresh base32 secret of 160 random bits."""
    return pyotp.random_base32()


def seal_secret(keys: AccountKeys, secret: str, *, account_id: str) -> bytes:
    """The secret encrypted for ``account_id`` under the derived TOTP sealing key."""
    return seal(keys.totp_seal.reveal(), secret.encode(), record_id=account_id, kind=SEAL_KIND)


def open_secret(keys: AccountKeys, sealed: bytes, *, account_id: str) -> str:
    """The plaintext secret of ``account_id``."""
    return open_sealed(
        keys.totp_seal.reveal(), sealed, record_id=account_id, kind=SEAL_KIND
    ).decode()


def step_at(now: datetime) -> int:
    """The time step ``now`` falls in."""
    return int(now.timestamp()) // STEP_S


def matching_step(secret: str, code: str, *, now: datetime, after_step: int) -> int | None:
    """The step whose code ``code`` is (within the window, later than ``after_step``), or None."""
    given = "".join(code.split())
    if len(given) != DIGITS or not given.isascii() or not given.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    found = None
    for offset in range(-VALID_WINDOW_STEPS, VALID_WINDOW_STEPS + 1):
        step = step_at(now) + offset
        # Every candidate is compared, so the time taken does not say which one matched.
        if hmac.compare_digest(totp.generate_otp(step), given) and step > after_step:
            found = step
    return found


def provisioning_uri(secret: str, *, account_name: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    return totp.provisioning_uri(name=account_name, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """An inline SVG QR code of ``uri`` (drawn by segno; safe to put in a page as it is)."""
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(
        scale=QR_SCALE, title="QR code for your authenticator app", dark="#000", light="#fff"
    )
    return Markup(svg)  # noqa: S704 (segno's own SVG; no user text reaches it unescaped)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
