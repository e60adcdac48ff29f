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
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    BindParameter,
    Connection,
    Row,
    Select,
    SQLColumnExpression,
    bindparam,
    exists,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit, jobs
from ..config import Settings
from ..db import utcnow
from ..errors import Gone, IdempotencyMismatch, KeyUnavailable, TooManyRequests, Unauthorized
from ..groupcommit import insert_later
from ..households import (
    Device,
    Household,
    active_device,
    cutoff,
    hash_token,
    still_active,
)
from ..keys import DataKey
from ..platform import Platform
from ..speech.audio import Clip, decode_upload
from .gate import SealingKey
from .models import Recording, Status, Tombstone

log = logging.getLogger(__name__)

PROCESS_JOB = "process_recording"
"""The job that runs the speech pipeline on a new recording."""
DIGEST_INFO = b"overheard/recordings/upload-body-digest/v1"
DELETED_REPLAY = "this utterance was received and has since been deleted"
"""Why a replayed Idempotency-Key of a deleted utterance is refused (410)."""
EXPIRED = "captured longer ago than the household keeps recordings"
"""Why an utterance already past its household's retention when it arrives is refused (410)."""


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


@dataclass(frozen=True)
class Admission:
    """What one read transaction learnt before an upload's body is read: the device, the stored
    recording an Idempotency-Key replays (if any), else the key to seal the new audio with."""

    device: Device
    """The device; from :func:`admit` a transient copy of the columns an upload uses (id,
    household, token hash, revocation), attached to no session."""
    replay: Recording | None
    key: SealingKey | None
    retention: str | None = None
    """The household's retention choice (``Household.retention``), read with the device."""


def admit(
    platform: Platform,
    token: str,
    now: datetime,
    idempotency_key: str | None = None,
    *,
    limit: bool = True,
) -> Admission:
    """Authenticate ``token``, apply the per-device upload limit and look up a replay or the
    sealing key, all in one read transaction (Unauthorized, TooManyRequests, Gone as usual).
    ``limit=False`` leaves the limit out, for a request about to be refused for another reason.

    One statement reads the device, its household's key row, the upload that decides the limit
    and the replay or tombstone of ``idempotency_key``; only a replay costs a second (its row).
    """
    digest = hash_token(token)
    settings = platform.settings
    query = _admission_query(
        settings.upload_device_max_per_window, idempotency_key is not None, limit
    )
    values: dict[str, Any] = {"digest": digest}
    if limit:
        values["since"] = now - timedelta(seconds=settings.upload_device_window_s)
    if idempotency_key is not None:
        values["key"] = idempotency_key
    # Core on a pooled connection, no ORM session: the rows come back as plain columns.
    with platform.reader_engine.connect() as connection:
        row = connection.execute(query, values).first()
    device = active_device(_device_of(row), digest)
    assert row is not None  # active_device() refused a missing device
    found = row._mapping
    if limit:
        _refuse_over_limit(platform.settings, found["nth_newest"], now)
    if found.get("replay_id") is not None:
        with platform.readers() as session:
            replay = session.get(Recording, found["replay_id"])
        if replay is not None:
            return Admission(device, replay, None)
        # Deleted since the statement read it: answered as a deleted replay is.
        raise Gone(DELETED_REPLAY)
    if found.get("deleted"):
        raise Gone(DELETED_REPLAY)
    key = platform.gate.sealing_key_of(_key_row_of(row), device.household_id)
    return Admission(device, None, key, found["retention"])


_DEVICE_COLUMNS = (Device.id, Device.household_id, Device.token_hash, Device.revoked_at)
_KEY_COLUMNS = (
    DataKey.household_id.label("key_household_id"), DataKey.wrapped, DataKey.share_id,
    DataKey.generation, DataKey.destroyed_at, DataKey.deleted_spans,
)  # fmt: skip


def _device_of(row: Row[Any] | None) -> Device | None:
    """The admission row's device as a transient :class:`Device` holding only the columns read
    (id, household, token hash, revocation): what an upload uses of it."""
    if row is None:
        return None
    return Device(
        id=row.id, household_id=row.household_id, token_hash=row.token_hash,
        revoked_at=row.revoked_at,
    )  # fmt: skip


def _key_row_of(row: Row[Any]) -> DataKey | None:
    """The admission row's household key as a transient :class:`DataKey` (None: no key row)."""
    if row.key_household_id is None:
        return None
    return DataKey(
        household_id=row.key_household_id, wrapped=row.wrapped, share_id=row.share_id,
        generation=row.generation, destroyed_at=row.destroyed_at, deleted_spans=row.deleted_spans,
    )  # fmt: skip


@lru_cache(maxsize=16)
def _admission_query(max_per_window: int, with_key: bool, limit: bool) -> Select[Any]:
    """The admission statement, built once per shape: ``digest``, ``since`` (with ``limit``) and
    ``key`` (with ``with_key``) are bound at execution, so an upload neither builds the statement
    nor computes its cache key again (that was a third of the admission's CPU)."""
    query = (
        select(*_DEVICE_COLUMNS, *_KEY_COLUMNS, Household.retention)
        .select_from(Device)
        .where(Device.token_hash == bindparam("digest", type_=Device.token_hash.type))
        .outerjoin(DataKey, DataKey.household_id == Device.household_id)
        .join(Household, Household.id == Device.household_id)
    )
    if limit:
        since = bindparam("since", type_=Recording.received_at.type)
        nth = nth_newest_upload(Device.id, since, max_per_window)
        query = query.add_columns(nth.scalar_subquery().label("nth_newest"))
    if with_key:
        key = bindparam("key", type_=Recording.idempotency_key.type)
        replay = select(Recording.id).where(
            Recording.device_id == Device.id, Recording.idempotency_key == key
        )
        deleted = exists().where(Tombstone.device_id == Device.id, Tombstone.idempotency_key == key)
        query = query.add_columns(
            replay.limit(1).scalar_subquery().label("replay_id"), deleted.label("deleted")
        )
    return query


def _admission(
    platform: Platform, session: Session, device: Device, idempotency_key: str | None
) -> Admission:
    # A caller that looked its device up long ago (``overheard wyoming``, for its whole run) must
    # not store for a device revoked or removed since: read it again.
    still_active(session, device.id)
    found = _existing(session, device.id, idempotency_key)
    if found is None and idempotency_key is not None:
        _refuse_deleted_replay(session, device.id, idempotency_key)
    if found is not None:
        return Admission(device, found, None)
    household = session.get_one(Household, device.household_id)
    key = platform.gate.sealing_key(session, device.household_id)
    return Admission(device, None, key, household.retention)


def ingest(
    platform: Platform,
    device: Device,
    body: bytes,
    *,
    captured_at: datetime | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    admitted: Admission | None = None,
) -> IngestResult:
    """Store one utterance from ``device``; replays of an Idempotency-Key return the first result
    (the same key with another body is refused: 422 ``idempotency_mismatch``).

    ``admitted`` is what :func:`admit` read for this device and key (the HTTP path reads it before
    the body arrives); without it the same reads are made here.
    """
    digest = body_digest(platform, body)
    received = now or utcnow()
    if admitted is None or admitted.device.id != device.id:
        with platform.readers() as session:
            admitted = _admission(platform, session, device, idempotency_key)
    if admitted.replay is not None:
        return IngestResult(_same_body(admitted.replay, digest), created=False)
    key = admitted.key
    assert key is not None
    clip = decode_upload(body, platform.audio_limits)
    # A clip is not captured after it arrives: a device clock that runs ahead would otherwise keep
    # it past its household's retention (a day ahead: a 24-hour choice kept for two).
    captured = min(captured_at, received) if captured_at is not None else received
    # A device's offline backlog, sent after a deletion, must not bring back what was said in it,
    # nor what its household's retention has already removed (the sweep would only later).
    key.refuse_erased(captured)
    expiry = cutoff(admitted.retention, received) if admitted.retention else None
    if expiry is not None and captured < expiry:
        raise Gone(EXPIRED)
    recording = _new_recording(device, clip, captured, received, idempotency_key)
    recording.body_digest = digest
    # The blob is durable before the row commits; it is written outside any write transaction, so
    # concurrent uploads sync their blobs side by side and then share one commit. The key read
    # earlier is checked again inside that commit (``SealingKey.check_current``).
    recording.audio_blob = platform.gate.store_audio(key, recording, clip.pcm.tobytes())
    try:
        job_id = platform.committer.run(_Store(recording, key, device))
    except (IntegrityError, KeyUnavailable, Gone, Unauthorized) as exc:
        if _committed(platform, recording.id):
            # A shared commit that reported failure had in fact committed, and its retry then
            # collided with our own row: the upload is stored; keep its blob.
            return IngestResult(recording, created=True)
        if isinstance(exc, KeyUnavailable | Gone | Unauthorized):
            # sealed under a key that is gone, said in a span deleted while it was sent, deleted
            # as another sending of it, or from a device revoked meanwhile
            platform.blobs.delete(recording.audio_blob)
            raise
        replay = _lost_race(platform, device, recording, idempotency_key)
        if replay is None:
            raise
        return replay
    platform.jobs.notify(job_id)
    return IngestResult(recording, created=True)


_RECORDING_COLUMNS = tuple(column.key for column in Recording.__table__.columns)
_INSERT_RECORDING = insert(Recording.__table__)  # type: ignore[arg-type]
_STORED = select(Recording.__table__.c.id).where(
    Recording.__table__.c.id == bindparam("id", type_=Recording.id.type)
)
"""Whether a recording row exists (built once; read only when a unit runs again)."""
_DEVICES, _RECORDINGS, _TOMBSTONES = (
    Device.__table__.c, Recording.__table__.c, Tombstone.__table__.c  # type: ignore[attr-defined]
)
_DEVICE_NOW = (
    select(_DEVICES.revoked_at)
    .where(_DEVICES.id == bindparam("device_id", type_=Device.id.type))
    .with_for_update(read=True)
)
"""The uploading device as it is now, held ``FOR SHARE`` on PostgreSQL (a revocation waits for
the commit, or committed first and is seen); SQLite's write lock does the same."""
_SAME_CLIP = (
    select(_RECORDINGS.id)
    .where(
        _RECORDINGS.device_id == bindparam("device_id", type_=Recording.device_id.type),
        _RECORDINGS.idempotency_key == bindparam("key", type_=Recording.idempotency_key.type),
    )
    .with_for_update(read=True)
)
"""A stored recording of the same clip (device and Idempotency-Key), held ``FOR SHARE``: a deletion
of it holds it ``FOR NO KEY UPDATE`` until it commits, its tombstone with it."""
_CLIP_DELETED = select(_TOMBSTONES.recording_id).where(
    _TOMBSTONES.device_id == bindparam("device_id", type_=Tombstone.device_id.type),
    _TOMBSTONES.idempotency_key == bindparam("key", type_=Tombstone.idempotency_key.type),
).limit(1)


class _Store:
    """The commit unit of one upload: its recording row (with the sealed blob's key), its
    processing job and its audit event, in the (shared) transaction, after checking that the key
    it was sealed under is still the household's. Returns the job's id.

    The rows are prebuilt Core INSERTs the committer writes for the whole batch at once
    (:func:`overheard.groupcommit.insert_later`); nothing is added to the session. A unit is run
    again after its transaction failed (alone, or in its own savepoint); since a commit reported
    as failed may have gone through, a run after the first reads whether its row is stored.
    """

    def __init__(self, recording: Recording, key: SealingKey, device: Device) -> None:
        self.recording, self.key, self.device = recording, key, device
        self.job_id: str | None = None
        """Set by the first run: the id of the job its rows queue (kept by any later run)."""

    def __call__(self, session: Session) -> str:
        rec, device, ran = self.recording, self.device, self.job_id
        connection = session.connection()
        if ran is not None and connection.execute(_STORED, {"id": rec.id}).first():
            return ran  # an earlier attempt's commit went through after all: stored once already
        _check_still_wanted(connection, rec)
        self.key.check_current(session, rec.captured_at)
        job = jobs.new_job_row(PROCESS_JOB, rec.id, rec.received_at)
        job["id"] = self.job_id = ran or job["id"]  # one upload, one job id, however many runs
        event = audit.next_event(
            session, actor=device.id, action="recording.ingest", subject=rec.id,
            household_id=device.household_id, details={"duration_s": round(rec.duration_s, 3)},
            now=rec.received_at,
        )  # fmt: skip
        insert_later(session, _INSERT_RECORDING, {c: getattr(rec, c) for c in _RECORDING_COLUMNS})
        insert_later(session, jobs.INSERT_JOB, job)
        insert_later(session, audit.INSERT_EVENT, event)
        return job["id"]


def _check_still_wanted(connection: Connection, rec: Recording) -> None:
    """What :func:`admit` read before the body arrived, read again in the storing transaction
    (before the key, as a deletion locks recordings before the key): the device must still be
    active (Unauthorized) and the clip must not have been deleted meanwhile, stored by another
    sending of it (Gone). Before, a device revoked while its body arrived stored it, and so did
    the first sending of a clip whose second sending was stored and then deleted."""
    same = {"device_id": rec.device_id, "key": rec.idempotency_key}
    if rec.idempotency_key is not None:
        # Waits for a deletion of the same clip under way; then its tombstone is committed.
        connection.execute(_SAME_CLIP, same).first()
        if connection.execute(_CLIP_DELETED, same).first() is not None:
            raise Gone(DELETED_REPLAY)
    device = connection.execute(_DEVICE_NOW, same).first()
    if device is None or device.revoked_at is not None:
        raise Unauthorized("invalid or revoked device token")


def _refuse_deleted_replay(session: Session, device_id: str, key: str) -> None:
    # A device re-sending an utterance that was since deleted must not bring it back.
    stone = session.scalars(
        select(Tombstone).where(Tombstone.device_id == device_id, Tombstone.idempotency_key == key)
    ).first()
    if stone is not None:
        raise Gone(DELETED_REPLAY)


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
    return hmac.new(_digest_key(platform.secrets["session"]), body, hashlib.sha256).digest()


@lru_cache(maxsize=4)
def _digest_key(secret: bytes) -> bytes:
    # Derived once per secret rather than once per upload.
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=DIGEST_INFO).derive(secret)


def _same_body(found: Recording, digest: bytes | None) -> Recording:
    # Recordings stored before digests were kept (NULL) are answered as replays, as before.
    known = found.body_digest
    if known is not None and digest is not None and not hmac.compare_digest(known, digest):
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for another body; use a new key for new audio"
        )
    return found


def _refuse_over_limit(settings: Settings, oldest_counted: datetime | None, now: datetime) -> None:
    """Refuse (429, ``Retry-After``) a device past ``upload_device_max_per_window`` stored uploads
    in the last ``upload_device_window_s``; ``oldest_counted`` is what :func:`nth_newest_upload`
    read from the recordings table, so every web process shares the limit."""
    if oldest_counted is None:
        return
    window = timedelta(seconds=settings.upload_device_window_s)
    limit = settings.upload_device_max_per_window
    wait = (oldest_counted + window - now).total_seconds()
    raise TooManyRequests(
        f"this device sent {limit} uploads in {settings.upload_device_window_s:g} s",
        retry_after_s=max(1, math.ceil(wait)),
    )


def nth_newest_upload(
    device_id: str | SQLColumnExpression[str], since: datetime | BindParameter[datetime], n: int
) -> Select[tuple[datetime]]:
    """When the ``n``-th newest upload of a device after ``since`` was received (no row: fewer).

    Only that upload matters to the limit: none means under the limit, and its time says when the
    window frees a place. Read off the (device_id, received_at) index, newest first, so it walks
    at most ``n`` index entries of that device, however many recordings it has.
    """
    return (
        select(Recording.received_at)
        .where(Recording.device_id == device_id, Recording.received_at > since)
        .order_by(Recording.received_at.desc())
        .offset(n - 1)
        .limit(1)
    )
