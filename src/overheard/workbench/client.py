"""A scriptable review client: signs in like a browser (password + TOTP), then drives the JSON API.

    with ReviewClient("http://127.0.0.1:8000") as rc:
        rc.sign_in("R-7f3a", password, totp_secret)
        while (task := rc.claim()) is not None:
            rc.submit(task["lease_id"], rc.task(task["lease_id"])["hypothesis"], intent="none")

The same loop in two requests a task: ``claim(with_task=True)`` answers the text and audio URL with
the lease, and ``submit(..., next_task=True)`` answers the next task so (see ``review_loop.py``).

Benchmarks and other review tools use it to run the same loop against a server on the same machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
import pyotp

from ..errors import OverheardError

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DEFAULT_TIMEOUT_S = 30.0
"""Seconds before one request is given up."""


class ReviewHttpError(OverheardError):
    """The server refused a request; ``status`` and ``code`` are the server's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status


class ReviewClient:
    """One staff member's review loop over HTTP (one cookie jar, one CSRF token)."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s, follow_redirects=False)
        self.csrf = ""

    def __enter__(self) -> ReviewClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

    def sign_in(self, pseudonym: str, password: str, totp_secret: str, *, at: datetime | None = None) -> None:
        """Password, then the TOTP code for ``at`` (now by default); ReviewHttpError on refusal."""
        self._form("/login", {"username": pseudonym, "password": password})
        totp = pyotp.TOTP(totp_secret)
        self._form("/login/mfa", {"code": totp.at(at) if at else totp.now()})
        self.csrf = str(self._json("GET", "/review/api/session")["csrf_token"])

    def _form(self, path: str, fields: dict[str, str]) -> None:
        page = self.http.get(path)
        found = CSRF_RE.search(page.text)
        if page.status_code != 200 or found is None:
            raise ReviewHttpError(page.status_code, "no_form", f"{path} shows no form")
        reply = self.http.post(path, data={**fields, "csrf_token": found.group(1)})
        if reply.status_code != 303:
            raise ReviewHttpError(reply.status_code, "sign_in_failed", f"{path} refused")

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json"}
        reply = self.http.request(method, path, json=body, headers=headers)
        if reply.status_code >= 300:
            error = _error_of(reply)
            raise ReviewHttpError(reply.status_code, error.get("code", "http_error"), error.get("message", ""))
        return reply.json()  # type: ignore[no-any-return]

    def claim(self, *, with_task: bool = False) -> dict[str, Any] | None:
        """The held or next task (lease id, pseudonym, duration), or None when the queue is empty.

        ``with_task``: the task also carries what :meth:`task` answers (when it has ``audio_url``).
        """
        path = "/review/api/claim?with_task=true" if with_task else "/review/api/claim"
        task: dict[str, Any] | None = self._json("POST", path)["task"]
        return task

    def task(self, lease_id: str) -> dict[str, Any]:
        """The leased task's redacted text and a fresh audio URL."""
        return self._json("GET", f"/review/api/task/{lease_id}")

    def audio(self, url: str) -> bytes:
        """The disguised WAV behind an audio URL from :meth:`task`."""
        reply = self.http.get(url)
        if reply.status_code != 200:
            error = _error_of(reply)
            raise ReviewHttpError(reply.status_code, error.get("code", "http_error"), error.get("message", ""))
        return reply.content

    def heartbeat(self, lease_id: str) -> dict[str, Any]:
        """Renew the lease."""
        return self._json("POST", "/review/api/heartbeat", {"lease_id": lease_id})

    def skip(self, lease_id: str, reason: str) -> None:
        """Give the task back with one of the skip reasons."""
        self._json("POST", "/review/api/skip", {"lease_id": lease_id, "reason": reason})

    def submit(
        self,
        lease_id: str,
        transcript: str,
        *,
        intent: str = "",
        flags: Iterable[str] = (),
        next_task: bool = False,
    ) -> dict[str, Any] | None:
        """Store an annotation for the leased task.

        With ``next_task`` the server claims the next task too and the answer is what
        ``claim(with_task=True)`` answers: ``{"task": ...}`` (``{"task": None}`` when the queue is
        empty), or None when that claim was refused (claim again). Without it, None.
        """
        body = {"lease_id": lease_id, "transcript": transcript, "intent": intent, "flags": list(flags)}
        if next_task:
            body["next"] = True
        reply = self._json("POST", "/review/api/submit", body)
        following: dict[str, Any] | None = reply.get("next") if next_task else None
        return following

    def stats(self) -> dict[str, Any]:
        """Shift and all-time figures of the signed-in annotator."""
        return self._json("GET", "/review/api/stats")


def _error_of(reply: httpx.Response) -> dict[str, str]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
