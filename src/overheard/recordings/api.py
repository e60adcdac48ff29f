"""Device API: upload an utterance, read back its status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..accounts.rbac import device
from ..errors import (
    InvalidHeader,
    RecordingNotFound,
    Unauthorized,
    UnsupportedMedia,
    UploadTimeout,
    UploadTooLarge,
)
from ..households import Device, authenticate_device
from ..platform import Platform
from ..speech.audio import container_of
from .ingest import admit, ingest
from .models import DeletionReceipt, Recording, Tombstone
from .voice_prompt import Prompt, tell

router = APIRouter(prefix="/api/v1", tags=["devices"], dependencies=[Depends(device())])

MAX_CLOCK_SKEW = timedelta(days=1)
"""How far in the future a device's capture time may lie."""
EARLIEST_CAPTURE = datetime(1970, 1, 1, tzinfo=UTC)
"""Capture times before this are refused: not a time any clock gives."""
CLOCK_SET_SINCE = datetime(2020, 1, 1, tzinfo=UTC)
"""A capture time before this comes from a device clock that was never set (one that counts from
1970 since power-on): the time of receipt stands in for it, so that the retention sweep does not
delete the clip as years old, and "delete what I said today" finds it."""
CONTAINER_OF_TYPE = {
    "audio/wav": "WAV",
    "audio/x-wav": "WAV",
    "audio/wave": "WAV",
    "audio/vnd.wave": "WAV",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
    "audio/ogg": "OGG",
    "application/ogg": "OGG",
}
"""Content-Types an upload may declare, and the container each names."""
SNIFFED_TYPES = frozenset({"application/octet-stream"})
"""Content-Types that name no container: the body is sniffed, as when none is sent."""
AUDIO_TYPES = (*CONTAINER_OF_TYPE, *SNIFFED_TYPES)


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="Machine-readable reason, e.g. `malformed_audio`.")
    message: str = Field(description="Human-readable explanation.")


class ErrorBody(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail


class DeletionOut(BaseModel):
    """Which deletion removed a recording."""

    receipt_id: str
    scope: dict[str, object] = Field(
        description="`kind` (voice_last, voice_today, range, one, everything, retention, "
        "restore_reapply) and its bounds; `command` is the id of the voice command that asked "
        "for it, if one did."
    )
    deleted_at: str


class DeletedBody(BaseModel):
    """A deleted recording: the error shape plus the deletion that removed it."""

    error: ErrorDetail
    deletion: DeletionOut


class PromptOut(BaseModel):
    """A question (or the end of one) the device is to speak now, because this utterance prompted it."""

    kind: str = Field(
        description="`question` (a voice deletion waits for a spoken yes), `reask` (the "
        "answer was unclear: asked once more) or `declined` (the answer was a no: the deletion is "
        "dropped; say so, expect no answer) or `too_late` (the no came after a yes whose deletion had "
        "already started or finished: nothing was undone; say so, expect no answer)."
    )
    say: str = Field(description="The words to speak.")
    answer_by: str = Field(
        description="RFC 3339 time: an answer captured later no longer counts."
    )


class UtteranceOut(BaseModel):
    """A stored utterance as its device sees it."""

    id: str
    status: str
    duration_s: float = Field(description="Seconds of audio stored.")
    reason: str | None = Field(None, description="Why processing ended where it did, if it failed.")
    prompt: PromptOut | None = Field(
        None,
        description="What the server waits for from this device after this utterance: shown "
        "only to the device that recorded it, until the question is answered or `answer_by` "
        "passes (docs/device.md).",
    )


def _err(desc: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": desc}


UPLOAD_HEADERS = ("authorization", "x-captured-at", "idempotency-key")
"""The headers an upload reads, in the order its OpenAPI description lists them."""


def _optional_header(name: str) -> dict[str, object]:
    """An optional string header of the upload, documented as FastAPI documents a declared one."""
    title = "-".join(part.capitalize() for part in name.split("-"))
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title}
    return {"in": "header", "name": name, "required": False, "schema": schema}


UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {
    401: _err("`invalid_token`: missing, wrong or revoked device token."),
    408: _err("`upload_timeout`: the body did not arrive within `upload_read_timeout_s`."),
    429: {
        **_err(
            "`rate_limited`: the device sent `upload_device_max_per_window` uploads within "
            "`upload_device_window_s`; `Retry-After` says when to try again."
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
    413: _err(
        "`upload_too_large`: the body exceeds `upload_limit_bytes`; refused while streaming."
    ),
    410: _err(
        "`deleted`: a replay of an Idempotency-Key whose utterance was since deleted, or an "
        "utterance captured before the household deleted everything or within a time it deleted "
        "(a range of days, everything said one day), or already past its household's retention."
    ),
    415: _err(
        "`unsupported_media`: the body is not audio in a supported format, or not the container "
        "its Content-Type names."
    ),
    422: _err(
        "`malformed_audio`, `empty_audio`, `clip_too_long`, `unsupported_sample_rate`, "
        "`unsupported_channels`, `bad_timestamp`, `bad_idempotency_key`, "
        "`idempotency_mismatch` (the key was used with another body)."
    ),
    507: {
        **_err(
            "`storage_failed`: the server could not write the audio (a full or failing disk); "
            "nothing was stored: send the same request again after `Retry-After`."
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
}


async def platform_of(request: Request) -> Platform:
    """The platform the app was built over (async: no worker thread for reading app state)."""
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(platform_of)]


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (Unauthorized without one)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a device token is required: Authorization: Bearer <token>")
    return token.strip()


def current_device(
    platform: PlatformDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    """The device whose bearer token authorises this request."""
    token = bearer_token(authorization)
    with platform.readers() as session:
        return authenticate_device(session, token)


DeviceDep = Annotated[Device, Depends(current_device)]


def parse_captured_at(value: str | None, now: datetime) -> datetime | None:
    """An RFC 3339 time with a zone, not more than a day in the future; None (the time of receipt
    stands in) for a clock that was never set (before ``CLOCK_SET_SINCE``)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        utc = when.astimezone(UTC) if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise InvalidHeader(
            f"X-Captured-At is not an RFC 3339 time: {value[:64]!r}", code="bad_timestamp"
        ) from None
    if utc is None:
        raise InvalidHeader("X-Captured-At needs a time zone offset", code="bad_timestamp")
    if utc < EARLIEST_CAPTURE:
        raise InvalidHeader("X-Captured-At lies before 1970", code="bad_timestamp")
    if utc - now > MAX_CLOCK_SKEW:
        raise InvalidHeader("X-Captured-At lies in the future", code="bad_timestamp")
    return utc if utc >= CLOCK_SET_SINCE else None


def check_idempotency_key(value: str | None) -> str | None:
    """A printable key of at most 128 characters."""
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not value.isprintable():
        raise InvalidHeader(
            "Idempotency-Key must be 1–128 printable characters", code="bad_idempotency_key"
        )
    return value


async def read_limited(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes, or when it has
    not all arrived within ``timeout_s`` (a slow sender would otherwise hold a worker forever)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise UploadTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


def check_content_type(value: str | None, body: bytes) -> None:
    """A declared audio type must name the container the body really is (missing: sniffed)."""
    if value is None or not body:
        return
    media = value.split(";", 1)[0].strip().lower()
    if media in SNIFFED_TYPES:
        return
    declared = CONTAINER_OF_TYPE.get(media)
    if declared is None:
        raise UnsupportedMedia(f"Content-Type {media[:64]!r} is not an audio type we accept")
    actual = container_of(body)
    if actual != declared:
        raise UnsupportedMedia(f"Content-Type says {declared} but the body is {actual}")


def _out(rec: Recording, prompt: Prompt | None = None) -> UtteranceOut:
    said = (
        None
        if prompt is None
        else PromptOut(kind=prompt.kind, say=prompt.say, answer_by=prompt.answer_by.isoformat())
    )
    return UtteranceOut(
        id=rec.id,
        status=rec.status,
        duration_s=round(rec.duration_s, 3),
        reason=rec.status_reason,
        prompt=said,
    )


@router.post(
    "/utterances",
    status_code=201,
    response_model=UtteranceOut,
    responses={
        200: {"model": UtteranceOut, "description": "Replay of an Idempotency-Key."},
        **UPLOAD_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES},
        },
        # Read off the request rather than declared as parameters: FastAPI then resolves no
        # parameters per upload on the busiest route (docs/operations.md, "How an upload...").
        "parameters": [_optional_header(name) for name in UPLOAD_HEADERS],
    },
)
async def upload_utterance(request: Request) -> JSONResponse:
    """Upload one utterance (WAV, FLAC or OGG) recorded after a local wake-word detection."""
    now = datetime.now(UTC)
    platform: Platform = request.app.state.platform
    headers = request.headers
    token = bearer_token(headers.get("authorization"))
    try:
        captured = parse_captured_at(headers.get("x-captured-at"), now)
        key = check_idempotency_key(headers.get("idempotency-key"))
        refused = None
    except InvalidHeader as exc:
        captured, key, refused = None, None, exc
    # Token, upload limit and replay or sealing key in one read, before the body is received; a
    # bad token is refused first (401), then a bad header (422), then the limit (429).
    admitted = await run_in_threadpool(admit, platform, token, now, key, limit=refused is None)
    if refused is not None:
        raise refused
    settings = platform.settings
    body = await read_limited(request, settings.upload_limit_bytes, settings.upload_read_timeout_s)
    check_content_type(headers.get("content-type"), body)
    result = await run_in_threadpool(
        ingest, platform, admitted.device, body, captured_at=captured, idempotency_key=key,
        admitted=admitted,
    )  # fmt: skip
    return JSONResponse(
        _out(result.recording).model_dump(), status_code=201 if result.created else 200
    )


@router.get(
    "/utterances/{recording_id}",
    response_model=UtteranceOut,
    responses={
        401: _err("`invalid_token`."),
        404: _err("`recording_not_found`."),
        410: {"model": DeletedBody, "description": "`deleted`: removed, with the deletion's scope."},
    },
)
def get_utterance(
    recording_id: str, platform: PlatformDep, device: DeviceDep
) -> UtteranceOut | JSONResponse:
    """Status of an utterance this device's household uploaded (410 once it was deleted), with
    the question the device is to speak when it recorded the utterance and a question waits."""
    with platform.readers() as session:
        rec = session.get(Recording, recording_id)
        stone = None if rec is not None else session.get(Tombstone, recording_id)
        receipt = session.get(DeletionReceipt, stone.receipt_id) if stone is not None else None
    if stone is not None and receipt is not None and stone.household_id == device.household_id:
        body = DeletedBody(
            error=ErrorDetail(code="deleted", message="this recording was deleted"),
            deletion=DeletionOut(receipt_id=receipt.id, scope=receipt.body["scope"],
                                 deleted_at=stone.deleted_at.isoformat()),
        )
        return JSONResponse(body.model_dump(), status_code=410)
    if rec is None or rec.household_id != device.household_id:
        raise RecordingNotFound("no such recording")
    return _out(rec, tell(platform, device.id, rec, datetime.now(UTC)))
