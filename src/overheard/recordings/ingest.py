"""Receiving an utterance from a device: validate, seal, store durably, then acknowledge.

Order matters for durability: the sealed blob is written and fsynced first, then the row, its
processing job and its audit event commit together. A crash between the two leaves only an orphan
blob, which the sweeper removes; it never leaves a row without its audio. Concurrent uploads share
that commit (:mod:`overheard.groupcommit`); each is acknowledged only after it is durable.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import jobs
from ..db import utcnow
from ..errors import Gone, IdempotencyMismatch, KeyUnavailable, TooManyRequests
from ..households import Device
from ..platform import Platform
from ..speech.audio import Clip, decode_upload
from .gate import SealingKey
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
        key = None if found is not None else platform.gate.sealing_key(session, device.household_id)
    if found is not None:
        return IngestResult(_same_body(found, digest), created=False)
    assert key is not None
    clip = decode_upload(body, platform.audio_limits)
    recording = _new_recording(device, clip, captured_at or received, received, idempotency_key)
    recording.body_digest = digest
    # The blob is durable before the row commits; it is written outside any write transaction, so
    # concurrent uploads sync their blobs side by side and then share one commit.
    recording.audio_blob = platform.gate.store_audio(key, recording, clip.pcm.tobytes())
    try:
        job = platform.committer.run(partial(_store, recording, key, clip.duration_s, device))
    except (IntegrityError, KeyUnavailable) as exc:
        if _committed(platform, recording.id):
            # A shared commit that reported failure had in fact committed, and its retry then
            # collided with our own row: the upload is stored; keep its blob.
            return IngestResult(recording, created=True)
        if isinstance(exc, KeyUnavailable):
            platform.blobs.delete(recording.audio_blob)  # sealed under a key that is gone
            raise
        replay = _lost_race(platform, device, recording, idempotency_key)
        if replay is None:
            raise
        return replay
    if job is not None:
        platform.jobs.notify(job.id)
    return IngestResult(recording, created=True)


def _store(
    recording: Recording, key: SealingKey, duration_s: float, device: Device, session: Session
) -> jobs.Job | None:
    """The row, its processing job and its audit event, in the (shared) transaction; the committer
    flushes them together with the other uploads of its batch."""
    if inspect(recording).has_identity and session.get(Recording, recording.id) is not None:
        return None  # an earlier attempt's commit went through after all: stored once already
    key.check_current(session)
    session.add(recording)
    details = {"duration_s": round(duration_s, 3)}
    because = jobs.Because(device.id, "recording.ingest", device.household_id, None, details)
    return jobs.queue_audited(
        session, because, recording.id, kind=PROCESS_JOB, now=recording.received_at, flush=False
    )


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


def _committed(platform: Platform, recording_id: str) -> bool:
    with platform.readers() as session:
        return session.get(Recording, recording_id) is not None


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
    limit = settings.upload_device_max_per_window
    # Only the limit-th newest upload in the window matters: none means under the limit, and its
    # time says when the window frees a place. One row read, however busy the device.
    nth_newest = (
        select(Recording.received_at)
        .where(Recording.device_id == device_id, Recording.received_at > now - window)
        .order_by(Recording.received_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    with platform.readers() as session:
        oldest_counted = session.scalar(nth_newest)
    if oldest_counted is None:
        return
    wait = (oldest_counted + window - now).total_seconds()
    raise TooManyRequests(
        f"this device sent {limit} uploads in {settings.upload_device_window_s:g} s",
        retry_after_s=max(1, math.ceil(wait)),
    )
