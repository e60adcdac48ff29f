"""The recording table and the sealed content derived from it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Status(StrEnum):
    """Where a recording is in the pipeline."""

    RECEIVED = "received"
    PROCESSING = "processing"
    TRANSCRIBED = "transcribed"
    ACCIDENTAL = "accidental"
    NO_SPEECH = "no_speech"
    FAILED = "failed"


ANSWER_ONLY = "answer_only"
"""``status_reason`` of an accidental clip used only as the answer to a spoken question
(``overheard.speech.answer_window``)."""


class Recording(Base):
    """One utterance a device uploaded. Its audio is a sealed blob; nothing here is content."""

    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("device_id", "idempotency_key", name="uq_recordings_device_idempotency"),
        Index("ix_recordings_household_captured", "household_id", "captured_at"),
        # The per-device upload limit reads a device's newest uploads, in order (also serves
        # device_id look-ups).
        Index("ix_recordings_device_received", "device_id", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    body_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    """Keyed hash (HMAC-SHA256) of the upload body, to tell a replay from a reused key."""
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_s: Mapped[float]
    """Seconds of audio as received (after normalisation to 16 kHz mono)."""
    source_rate_hz: Mapped[int]
    source_format: Mapped[str] = mapped_column(String(64))
    audio_blob: Mapped[str | None] = mapped_column(String(200))
    """Blob key of the sealed audio; NULL once the audio is purged."""
    status: Mapped[str] = mapped_column(String(16), default=Status.RECEIVED.value, index=True)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    wake_score: Mapped[float | None] = mapped_column(default=None)
    """Wake-word model score, 0–1."""
    speech_s: Mapped[float | None] = mapped_column(default=None)
    """Seconds of speech the VAD found."""
    asr_confidence: Mapped[float | None] = mapped_column(default=None)
    """Utterance confidence of the recogniser, 0–1."""
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class SealedText(Base):
    """A text derived from a recording (hypothesis, intent, …), sealed under the household key."""

    __tablename__ = "sealed_texts"
    __table_args__ = (
        UniqueConstraint("recording_id", "kind", name="uq_sealed_texts_recording_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeletionReceipt(Base):
    """What one deletion removed: scope, counts, and whether the household key was destroyed."""

    __tablename__ = "deletion_receipts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[dict[str, object]] = mapped_column(JSON)
    """The receipt as issued (scope, counts, destroyed), signed later by the audit key."""
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the last copy the receipt names (blobs, working folders, model files) was gone."""


class Tombstone(Base):
    """A deleted recording's id, so its device can learn it is gone (no content is kept)."""

    __tablename__ = "tombstones"
    __table_args__ = (Index("ix_tombstones_device_idempotency", "device_id", "idempotency_key"),)

    recording_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(32), index=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("deletion_receipts.id", ondelete="CASCADE"))
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    device_id: Mapped[str | None] = mapped_column(String(32), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    """With ``device_id``: a device re-sending a deleted utterance learns it was deleted."""
