"""Errors that carry their HTTP status and a machine-readable code.

Every error the platform raises on purpose is an :class:`OverheardError`; the web layer turns it into
one JSON shape, ``{"error": {"code": ..., "message": ...}}``, and the CLI prints its message.
"""

from __future__ import annotations

import errno
import math
import traceback


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one error body every route answers with."""
    return {"error": {"code": code, "message": message}}


class OverheardError(Exception):
    """Base of every deliberate error."""

    status: int = 400
    code: str = "bad_request"
    retry_after_s: float | None = None
    """Seconds after which a retry may succeed (sent as ``Retry-After``, rounded up), if known."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the error brings (``Retry-After``)."""
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}

    def as_json(self) -> dict[str, dict[str, str]]:
        """This error's body (:func:`error_body`)."""
        return error_body(self.code, self.message)


class BadRequest(OverheardError):
    """The request is well-formed HTTP but its content is wrong."""


class InvalidHeader(OverheardError):
    """A request header whose value cannot be used; ``code`` names which."""

    status = 422
    code = "invalid_header"


class Unauthorized(OverheardError):
    """Missing or wrong credentials."""

    status = 401
    code = "invalid_token"


class Forbidden(OverheardError):
    """Authenticated, but not allowed."""

    status = 403
    code = "forbidden"


class NotFound(OverheardError):
    """Nothing there, or nothing there for this caller (the two are never told apart)."""

    status = 404
    code = "not_found"


class RecordingNotFound(NotFound):
    """No such recording for this caller."""

    code = "recording_not_found"


class Gone(OverheardError):
    """It existed and was deleted on purpose."""

    status = 410
    code = "deleted"


class Conflict(OverheardError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class AudioRejected(OverheardError):
    """Uploaded audio that cannot be accepted; ``code`` says why."""

    status = 422
    code = "malformed_audio"


class IdempotencyMismatch(OverheardError):
    """An Idempotency-Key already used with a different body."""

    status = 422
    code = "idempotency_mismatch"


class UnsupportedMedia(AudioRejected):
    """Bytes that are not audio in a format we decode."""

    status = 415
    code = "unsupported_media"


class TooManyRequests(OverheardError):
    """A limit on how often something may be done was reached; retry after ``retry_after_s``."""

    status = 429
    code = "rate_limited"


class ServiceBusy(OverheardError):
    """Too much of a bounded resource is in use right now; retry after ``retry_after_s``."""

    status = 503
    code = "busy"


class UploadTimeout(OverheardError):
    """The upload body did not arrive within ``upload_read_timeout_s``."""

    status = 408
    code = "upload_timeout"


class UploadTooLarge(OverheardError):
    """Body larger than ``upload_limit_bytes``; refused while streaming."""

    status = 413
    code = "upload_too_large"


class KeyUnavailable(OverheardError):
    """A data key was destroyed or cannot be unwrapped; the content is gone for good."""

    status = 410
    code = "key_destroyed"


class DecryptionFailed(OverheardError):
    """Ciphertext that does not open under this key and context. One opaque error for all causes."""

    status = 500
    code = "decryption_failed"


class ServiceUnavailable(OverheardError):
    """A backing service (database, blob store, broker, key provider) cannot be reached now.

    Answered 503 with ``Retry-After: retry_after_s``: nothing was stored by the failed request,
    and the same request (same Idempotency-Key) may be sent again.
    """

    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, service: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.service = service


class StorageFailed(ServiceUnavailable):
    """The local blob store could not write (a full disk, a failing one): nothing was stored.

    Answered 507 with ``Retry-After``; the same request may be sent again once the operator has
    made room or replaced the disk."""

    status = 507
    code = "storage_failed"

    def __init__(self, cause: OSError) -> None:
        reason = errno.errorcode.get(cause.errno, "") if isinstance(cause.errno, int) else ""
        super().__init__(
            f"the server could not write to its blob store ({reason or type(cause).__name__}); "
            "nothing was stored, try again later",
            service="blob_store",
        )


class ConfigError(OverheardError):
    """A setting is missing or names an unknown backend."""

    status = 500
    code = "config_error"


def safe_reason(exc: BaseException) -> str:
    """What a failure may say where content must never go (the log, ``jobs.last_error``, the
    recording's ``status_reason``): the exception's type, and the code of one of ours (or the
    ``errno`` name of an ``OSError``).

    Never its message: a message may quote what was said (a library's ``KeyError`` on a recognised
    word, a parser quoting its input, a file name), and those places are plaintext an operator
    reads outside the content gate."""
    code = exc.code if isinstance(exc, OverheardError) else None
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        code = errno.errorcode.get(exc.errno)  # ENOSPC, EACCES: why, without the file's name
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__


def safe_trace(exc: BaseException) -> str:
    """The traceback of ``exc`` and of the exceptions it was raised from or while handling, each
    named by :func:`safe_reason` with the frames it passed (file, line, function, source line):
    the messages are left out (see :func:`safe_reason`)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        stack = traceback.StackSummary.extract(traceback.walk_tb(current.__traceback__))
        parts.append(f"{safe_reason(current)}\n{''.join(stack.format())}")
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause
    return "\nwhich came from\n".join(parts)
