"""Short-lived, unguessable audio URLs bound to one browser session and one lease (or adjudication).

A token is an AES-256-GCM sealed record ``{what, id, session, expires}`` under a key derived from the
server's ``session`` secret, so any web process can check it without shared state, and it cannot be
forged, altered or read. It works only for the session that was shown the page, only until it
expires, and only a few times per web process (the browser fetches it once; a retry may follow).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import NotFound
from ..server_secrets import SecretBytes, ServerSecrets

AUDIO_URL_INFO = b"overheard/workbench/audio-url/v1"
KEY_BYTES = 32
NONCE_BYTES = 12
AUDIO_URL_TTL_S = 60.0
"""Seconds an audio URL stays valid after the page that holds it was made."""
AUDIO_URL_MAX_USES = 3
"""Fetches one web process answers per URL (one play, plus retries after a network hiccup)."""
SESSION_TAG_BYTES = 16
AUDIO_PATH = "/review/audio/"

Subject = Literal["lease", "adjudication"]


class AudioUrlInvalid(NotFound):
    """An audio URL that is unknown, altered, expired, used up, or not this session's."""

    code = "audio_url_invalid"


@dataclass(frozen=True)
class AudioGrant:
    """What a valid audio URL entitles its session to."""

    subject: Subject
    """``lease`` (an annotator's task) or ``adjudication`` (a lead's)."""
    subject_id: str
    """The lease id or the agreement id."""


def session_tag(raw_session_id: str) -> str:
    """A short hash of the session id: what a token is bound to (the id itself never goes in)."""
    return hashlib.sha256(b"audio-url:" + raw_session_id.encode()).hexdigest()[:SESSION_TAG_BYTES * 2]


class AudioUrls:
    """Mints and checks audio URLs; one per app."""

    def __init__(self, secrets: ServerSecrets) -> None:
        root = secrets["session"]
        key = HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=AUDIO_URL_INFO).derive(root)
        self._key = SecretBytes(key)
        self._uses: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def mint(self, subject: Subject, subject_id: str, raw_session_id: str, now: datetime) -> str:
        """A new URL path for ``subject_id``, usable by this session for ``AUDIO_URL_TTL_S``."""
        body = {
            "w": subject,
            "i": subject_id,
            "s": session_tag(raw_session_id),
            "e": now.timestamp() + AUDIO_URL_TTL_S,
        }
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key.reveal()).encrypt(nonce, json.dumps(body).encode(), AUDIO_URL_INFO)
        return AUDIO_PATH + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def redeem(self, token: str, raw_session_id: str, now: datetime) -> AudioGrant:
        """What ``token`` grants this session now; AudioUrlInvalid (404) otherwise, one reason for all."""
        body = self._open(token)
        expires = float(body.get("e", 0))
        if body.get("s") != session_tag(raw_session_id) or now.timestamp() > expires:
            raise AudioUrlInvalid("this audio link is not valid; reload the page")
        self._count_use(token, expires, now.timestamp())
        return AudioGrant(subject=body["w"], subject_id=str(body["i"]))

    def _open(self, token: str) -> dict[str, object]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            plain = AESGCM(self._key.reveal()).decrypt(nonce, sealed, AUDIO_URL_INFO)
            body = json.loads(plain)
        except (ValueError, InvalidTag):
            raise AudioUrlInvalid("this audio link is not valid; reload the page") from None
        if not isinstance(body, dict) or body.get("w") not in ("lease", "adjudication"):
            raise AudioUrlInvalid("this audio link is not valid; reload the page")
        return body

    def _count_use(self, token: str, expires: float, now: float) -> None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            for old in [k for k, (_, until) in self._uses.items() if until < now]:
                del self._uses[old]
            used, _ = self._uses.get(key, (0, expires))
            if used >= AUDIO_URL_MAX_USES:
                raise AudioUrlInvalid("this audio link is used up; reload the page")
            self._uses[key] = (used + 1, expires)
