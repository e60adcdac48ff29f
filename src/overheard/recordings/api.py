"""Device API: upload an utterance, read back its status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..accounts.rbac import device
from ..errors import InvalidHeader, RecordingNotFound, Unauthorized, UploadTooLarge
from ..households import Device, authenticate_device
from ..platform import Platform
from .ingest import ingest
from .models import DeletionReceipt, Recording, Tombstone

router = APIRouter(prefix="/api/v1", tags=["devices"], dependencies=[Depends(device())])

MAX_CLOCK_SKEW = timedelta(days=1)
"""How far in the future a device's capture time may lie."""
EARLIEST_CAPTURE = datetime(1970, 1, 1, tzinfo=UTC)
"""Capture times before this are a device clock that was never set."""
AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "application/octet-stream")


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
        description="`kind` (voice_last, voice_today, range, one, everything, retention) and its bounds; "
        "`command` is the id of the voice command that asked for it, if one did."
    )
    deleted_at: str


class DeletedBody(BaseModel):
    """A deleted recording: the error shape plus the deletion that removed it."""

    error: ErrorDetail
    deletion: DeletionOut


class UtteranceOut(BaseModel):
    """A stored utterance as its device sees it."""

    id: str
    status: str
    duration_s: float = Field(description="Seconds of audio stored.")
    reason: str | None = Field(None, description="Why processing ended where it did, if it failed.")


def _err(desc: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": desc}


UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {
    401: _err("`invalid_token`: missing, wrong or revoked device token."),
    413: _err(
        "`upload_too_large`: the body exceeds `upload_limit_bytes`; refused while streaming."
    ),
    410: _err("`deleted`: a replay of an Idempotency-Key whose utterance was since deleted."),
    415: _err("`unsupported_media`: the body is not audio in a supported format."),
    422: _err(
        "`malformed_audio`, `empty_audio`, `clip_too_long`, `unsupported_sample_rate`, "
        "`unsupported_channels`, `bad_timestamp`, `bad_idempotency_key`."
    ),
}


def platform_of(request: Request) -> Platform:
    """The platform the app was built over."""
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(platform_of)]


def current_device(
    platform: PlatformDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    """The device whose bearer token authorises this request."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a device token is required: Authorization: Bearer <token>")
    with platform.readers() as session:
        return authenticate_device(session, token.strip())


DeviceDep = Annotated[Device, Depends(current_device)]


def parse_captured_at(value: str | None, now: datetime) -> datetime | None:
    """An RFC 3339 time with a zone, not more than a day in the future."""
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
    return utc


def check_idempotency_key(value: str | None) -> str | None:
    """A printable key of at most 128 characters."""
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not value.isprintable():
        raise InvalidHeader(
            "Idempotency-Key must be 1–128 printable characters", code="bad_idempotency_key"
        )
    return value


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _out(rec: Recording) -> UtteranceOut:
    return UtteranceOut(
        id=rec.id, status=rec.status, duration_s=round(rec.duration_s, 3), reason=rec.status_reason
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
        }
    },
)
async def upload_utterance(
    request: Request,
    platform: PlatformDep,
    device: DeviceDep,
    x_captured_at: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Upload one utterance (WAV, FLAC or OGG) recorded after a local wake-word detection."""
    captured = parse_captured_at(x_captured_at, datetime.now(UTC))
    key = check_idempotency_key(idempotency_key)
    body = await read_limited(request, platform.settings.upload_limit_bytes)
    result = await run_in_threadpool(
        ingest, platform, device, body, captured_at=captured, idempotency_key=key
    )
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
    """Status of an utterance this device's household uploaded (410 once it was deleted)."""
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
    return _out(rec)
