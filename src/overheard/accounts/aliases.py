"""What others see of a staff member: a keyed alias, never the name they sign in with.

A sign-in name shown to customers or other staff would let anyone aim password guesses at it.
The alias is an HMAC of the sign-in name under a key derived from the server's ``session``
secret: stable, unlinkable to the name without the key, and per household for customers (two
households cannot tell they were heard by the same reviewer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ..server_secrets import ServerSecrets
from .secrets import derive

DISPLAY_INFO = b"overheard/accounts/display-alias/v1"
ALIAS_BYTES = 5
"""Bytes of the HMAC kept in an alias (40 bits: 8 base32 characters)."""
STAFF_SCOPE = "staff"
"""The scope of the alias other staff see."""
ACTOR_PREFIX = "staff:"
SIGN_IN_NAME = re.compile(r"R-[0-9a-f]+")
"""The form of a staff sign-in name (``service.PSEUDONYM_PREFIX`` and hex digits)."""


def alias_key(secrets: ServerSecrets) -> bytes:
    """The key aliases are made with."""
    return derive(secrets["session"], DISPLAY_INFO)


def alias_code(key: bytes, sign_in_name: str, *, scope: str = STAFF_SCOPE) -> str:
    """Eight base32 characters standing for ``sign_in_name`` within ``scope`` (a household id)."""
    mac = hmac.new(key, f"{scope}\0{sign_in_name}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:ALIAS_BYTES]).decode()


def staff_alias(key: bytes, sign_in_name: str, *, scope: str = STAFF_SCOPE) -> str:
    """``Reviewer XXXXXXXX``: the alias of ``sign_in_name`` within ``scope`` (a household id)."""
    return "Reviewer " + alias_code(key, sign_in_name, scope=scope)


def display_actor(key: bytes, actor: str, *, scope: str = STAFF_SCOPE) -> str:
    """An audit actor as shown outside administration: a staff sign-in name (``staff:R-7f3a``, or
    ``R-7f3a`` as the review path records it) becomes its alias."""
    name = actor[len(ACTOR_PREFIX) :] if actor.startswith(ACTOR_PREFIX) else actor
    if SIGN_IN_NAME.fullmatch(name):
        return staff_alias(key, name, scope=scope)
    return actor
