"""Receiving an utterance from a device: validate, seal, store durably, then acknowledge.

Order matters for durability: the sealed blob is written and fsynced first, then the row, its
processing job and its audit event commit together. A crash between the two leaves only an orphan
blob, which the sweeper removes; it never leaves a row without its audio.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit, jobs
from ..db import transaction, utcnow
from ..errors import Gone, IdempotencyMismatch, TooManyRequests
from ..households import Device
from ..platform import Platform
from ..speech.audio import Clip, decode_upload
from .models import Recording, Status, Tombstone

log = logging.getLogger(__name__)

PROCESS_JOB = "process_recording"
"""The job that runs the speech pipeline on a new recording."""
DIGEST_INFO = b"overheard/recordings/upload-body-digest/v1"


@dataclass(frozen=True)
class IngestResult:
    """The stored recording, and whether this request created it (False: an idempotent replay)."""

    recording: Recording
    created: bool


def _existing(session: Session, device_id: str, key: str | None) -> Recording | None:
    if key is None:
        return None
    query = select(Recording).where(
        Recording.device_id == device_id, Recording.idempotency_key == key
    )
    return session.scalars(query).first()


def ingest(
    platform: Platform,
    device: Device,
    body: bytes,
    *,
    captured_at: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Store one utterance from ``device``; replays of an Idempotency-Key return the first result
    (the same key with another body is refused: 422 ``idempotency_mismatch``)."""
    digest = body_digest(platform, body)
    received = now or utcnow()
    with platform.readers() as session:
        found = _existing(session, device.id, idempotency_key)
        if found is None and idempotency_key is not None:
            _refuse_deleted_replay(session, device.id, idempotency_key)
    if found is not None:
        return IngestResult(_same_body(found, digest), created=False)
    clip = decode_upload(body, platform.audio_limits)
    recording = _new_recording(device, clip, captured_at or received, received, idempotency_key)
    recording.body_digest = digest
    try:
        with transaction(platform.sessions) as session:
            recording.audio_blob = platform.gate.seal_audio(session, recording, clip.pcm.tobytes())
            session.add(recording)
            session.flush()
            job = jobs.enqueue(session, PROCESS_JOB, recording.id, now=received)
            audit.append(
                session,
                actor=device.id,
                action="recording.ingest",
                subject=recording.id,
                household_id=device.household_id,
                now=received,
                details={"duration_s": round(clip.duration_s, 3)},
            )
    except IntegrityError:
        replay = _lost_race(platform, device, recording, idempotency_key)
        if replay is None:
            raise
        return replay
    platform.jobs.notify(job.id)
    return IngestResult(recording, created=True)


def _refuse_deleted_replay(session: Session, device_id: str, key: str) -> None:
    # A device re-sending an utterance that was since deleted must not bring it back.
    stone = session.scalars(
        select(Tombstone).where(Tombstone.device_id == device_id, Tombstone.idempotency_key == key)
    ).first()
    if stone is not None:
        raise Gone("this utterance was received and has since been deleted")


def _new_recording(
    device: Device, clip: Clip, captured: datetime, received: datetime, key: str | None
) -> Recording:
    return Recording(
        id=uuid.uuid4().hex,
        household_id=device.household_id,
        device_id=device.id,
        idempotency_key=key,
        captured_at=captured,
        received_at=received,
        duration_s=clip.duration_s,
        source_rate_hz=clip.source_rate_hz,
        source_format=clip.source_format,
        status=Status.RECEIVED.value,
    )


def _lost_race(
    platform: Platform, device: Device, mine: Recording, key: str | None
) -> IngestResult | None:
    # Another request with the same Idempotency-Key committed first: drop our blob, answer with theirs.
    if mine.audio_blob:
        platform.blobs.delete(mine.audio_blob)
    with platform.sessions() as session:
        found = _existing(session, device.id, key)
    return None if found is None else IngestResult(_same_body(found, mine.body_digest), False)


def body_digest(platform: Platform, body: bytes) -> bytes:
    """HMAC-SHA256 of an upload body under a key derived from the server's ``session`` secret.

    Keyed, so the stored value cannot be used to test whether some known audio was uploaded.
    """
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=DIGEST_INFO).derive(
        platform.secrets["session"]
    )
    return hmac.new(key, body, hashlib.sha256).digest()


def _same_body(found: Recording, digest: bytes | None) -> Recording:
    # Recordings stored before digests were kept (NULL) are answered as replays, as before.
    known = found.body_digest
    if known is not None and digest is not None and not hmac.compare_digest(known, digest):
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for another body; use a new key for new audio"
        )
    return found


def check_upload_rate(platform: Platform, device_id: str, now: datetime) -> None:
    """Refuse (429, ``Retry-After``) a device past ``upload_device_max_per_window`` stored uploads
    in the last ``upload_device_window_s``; counted from the recordings table, so every web
    process shares the limit."""
    settings = platform.settings
    window = timedelta(seconds=settings.upload_device_window_s)
    recent = select(Recording.received_at).where(
        Recording.device_id == device_id, Recording.received_at > now - window
    )
    with platform.readers() as session:
        times = session.scalars(
            recent.order_by(Recording.received_at.desc()).limit(
                settings.upload_device_max_per_window
            )
        ).all()
    if len(times) < settings.upload_device_max_per_window:
        return
    wait = (min(times) + window - now).total_seconds()
    raise TooManyRequests(
        f"this device sent {len(times)} uploads in {settings.upload_device_window_s:g} s",
        retry_after_s=max(1, math.ceil(wait)),
    )
