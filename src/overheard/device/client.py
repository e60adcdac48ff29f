"""The device's side of the device API: upload an utterance, ask what became of it.

Answers fall in three kinds. :class:`Accepted` (201, or 200 for a replayed Idempotency-Key) and
:class:`Refused` (a 4xx that no retry can fix: the utterance is given up) are returned;
everything a later attempt may fix (no connection, a timeout, 5xx, 408, 429, a refused token)
raises :class:`Unreachable`, and the caller retries with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from overheard.device.queue import Entry

UPLOAD_PATH = "/api/v1/utterances"
TIMEOUT_S = 10.0
"""Seconds before a request is given up (and retried later)."""
RETRYABLE_STATUSES = frozenset({401, 408, 425, 429})
"""4xx answers that may change later: a token being fixed, a timeout, rate limiting."""
TERMINAL_STATUSES = frozenset({"transcribed", "accidental", "no_speech", "failed"})
"""Processing states after which a recording's fate is settled (until someone deletes it)."""


MAX_RETRY_AFTER_S = 600.0
"""Longest server-asked wait the device honours, seconds (a longer one is clipped to it)."""


class Unreachable(Exception):
    """The server could not take the request now; try again later with the same key."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """The wait the server asked for (``Retry-After``), seconds; None when it did not."""


def retry_after_of(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delay-seconds form), clipped; None when absent or a date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value.isdigit():
        return None
    return min(float(value), MAX_RETRY_AFTER_S)


@dataclass(frozen=True)
class Accepted:
    """The server holds the utterance."""

    id: str
    status: str
    duration_s: float
    """Seconds of audio the server stored."""
    replay: bool
    """True when the server already had this Idempotency-Key (answer 200)."""


@dataclass(frozen=True)
class Refused:
    """The server will never take this utterance."""

    status: int
    """HTTP status."""
    code: str
    message: str


@dataclass(frozen=True)
class Prompt:
    """A question the server waits for this device to speak (docs/device.md)."""

    about: str
    """The recording that prompted it."""
    kind: str
    """``question``, ``reask`` (the answer was unclear: asked once more), ``declined`` (the answer
    was a no: nothing was deleted, and no answer is expected) or ``too_late`` (the no came once the
    deletion had started or finished: nothing was undone, no answer is expected)."""

    @property
    def expects_answer(self) -> bool:
        """Whether the device's next recording answers it (not after a no)."""
        return self.kind in ("question", "reask")
    say: str
    """The words to speak."""
    answer_by: datetime
    """An answer captured after this no longer counts."""


@dataclass(frozen=True)
class Processing:
    """Where a recording stands."""

    id: str
    status: str
    prompt: Prompt | None = None
    """The question this recording prompted, while the server waits for its answer."""

    @property
    def settled(self) -> bool:
        """Whether processing is over."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Deletion:
    """A recording is gone: which deletion removed it."""

    recording_id: str
    receipt_id: str
    kind: str
    """``voice_last``, ``voice_today``, ``range``, ``one``, ``everything``, ``retention``."""
    command: str | None
    """Id of the voice command that asked for the deletion, if one did."""
    since: datetime | None
    """Start of the deleted span, when the scope has one."""
    deleted_at: datetime
    until: datetime | None = None
    """End of the deleted span (exclusive), when the scope has one: "today" ends at the command's
    local midnight, whenever it was carried out."""


class DeviceClient:
    """HTTP client of one device (one bearer token)."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=server.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def upload(self, entry: Entry, wav: bytes) -> Accepted | Refused:
        """Send one utterance with its capture time and idempotency key."""
        headers = {
            "Content-Type": "audio/wav",
            "X-Captured-At": entry.captured_at.isoformat(),
            "Idempotency-Key": entry.key,
        }
        response = self._send("POST", UPLOAD_PATH, content=wav, headers=headers)
        if response.status_code in (200, 201):
            body = response.json()
            return Accepted(
                body["id"], body["status"], float(body["duration_s"]), response.status_code == 200
            )
        code, message = _error_of(response)
        return Refused(response.status_code, code, message)

    def status(self, recording_id: str) -> Processing | Deletion | None:
        """What became of a recording; None when the server does not know it (404)."""
        response = self._send("GET", f"{UPLOAD_PATH}/{recording_id}")
        if response.status_code == 200:
            body = response.json()
            return Processing(recording_id, body["status"], _prompt(recording_id, body.get("prompt")))
        if response.status_code == 410:
            return _deletion(recording_id, response.json()["deletion"])
        if response.status_code == 404:
            return None
        code, message = _error_of(response)
        raise Unreachable(f"status of {recording_id}: HTTP {response.status_code} {code}: {message}")

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
            code, message = _error_of(response)
            raise Unreachable(
                f"HTTP {response.status_code} {code}: {message}",
                retry_after_s=retry_after_of(response),
            )
        return response


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", response.text[:200]


def _prompt(recording_id: str, body: dict[str, Any] | None) -> Prompt | None:
    if not body:
        return None
    return Prompt(recording_id, str(body["kind"]), str(body["say"]), _aware(body["answer_by"]))


def _deletion(recording_id: str, body: dict[str, Any]) -> Deletion:
    scope = body.get("scope") or {}
    since, until = scope.get("since"), scope.get("until")
    return Deletion(
        recording_id=recording_id,
        receipt_id=str(body["receipt_id"]),
        kind=str(scope.get("kind", "")),
        command=scope.get("command"),
        since=_aware(since) if since else None,
        deleted_at=_aware(body["deleted_at"]),
        until=_aware(until) if until else None,
    )


def _aware(text: str) -> datetime:
    """An ISO time; one without an offset is UTC (how the server stores times)."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
