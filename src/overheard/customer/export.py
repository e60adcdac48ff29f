"""Download all my data: a zip of every recording's audio (WAV) and a JSON of everything else.

The zip is written as it is sent (no temporary file, no whole archive in memory). Every audio and
text is opened through the content gate with purpose ``owner_export``, so each is audited; one
``customer.export`` event marks the start.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from .. import audit
from ..accounts.aliases import alias_key
from ..db import transaction
from ..errors import KeyUnavailable, NotFound
from ..platform import Platform
from ..privacy import notes
from ..recordings.models import DeletionReceipt, Recording, SealedText
from ..speech.audio import to_wav_bytes
from .service import household, reviews_of

PURPOSE = "owner_export"
EXPORT_BATCH = 50
"""Recordings opened per transaction while streaming."""


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose written bytes are collected and drained."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        return len(data)

    def drain(self) -> bytes:
        """Bytes written since the last drain."""
        out, self.buffer = bytes(self.buffer), bytearray()
        return out


def stream_export(
    platform: Platform, household_id: str, actor: str, now: datetime
) -> Iterator[bytes]:
    """Chunks of the zip archive of the household's data."""
    with transaction(platform.sessions) as session:
        row = household(session, household_id)
        settings = {"human_review": row.human_review, "retention": row.retention}
        ids = list(
            session.scalars(
                select(Recording.id)
                .where(Recording.household_id == household_id)
                .order_by(Recording.captured_at)
            )
        )
        audit.append(
            session,
            actor=actor,
            action="customer.export",
            subject=household_id,
            household_id=household_id,
            now=now,
            details={"recordings": len(ids)},
        )
    sink = _Sink()
    records: list[dict[str, Any]] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for start in range(0, len(ids), EXPORT_BATCH):
            batch = ids[start : start + EXPORT_BATCH]
            for name, data, record in _batch(platform, household_id, batch, actor):
                if data is not None:
                    archive.writestr(name, data)
                records.append(record)
                yield sink.drain()
        summary = {
            "household_id": household_id,
            "exported_at": now.isoformat(),
            "settings": settings,
            "recordings": records,
            "deletion_receipts": _receipts(platform, household_id),
        }
        archive.writestr("data.json", json.dumps(summary, indent=2, default=str))
    yield sink.drain()


def _batch(
    platform: Platform, household_id: str, ids: list[str], actor: str
) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    out = []
    with transaction(platform.sessions) as session:
        reviews = reviews_of(session, ids, alias_key(platform.secrets), household_id)
        for rec in session.scalars(select(Recording).where(Recording.id.in_(ids))):
            audio = _audio(platform, session, rec, actor)
            name = f"audio/{rec.captured_at:%Y%m%dT%H%M%S}-{rec.id}.wav"
            record = {
                "id": rec.id,
                "captured_at": rec.captured_at.isoformat(),
                "duration_s": rec.duration_s,
                "status": rec.status,
                "audio_file": name if audio is not None else None,
                "texts": _texts(platform, session, rec, actor),
                "human_review": [r.__dict__ for r in reviews[rec.id]],
            }
            out.append((name, audio, record))
    return out


def _audio(platform: Platform, session: Any, rec: Recording, actor: str) -> bytes | None:
    if rec.audio_blob is None:
        return None
    try:
        pcm = platform.gate.open_audio(session, rec, actor=actor, purpose=PURPOSE)
    except (NotFound, KeyUnavailable):
        return None
    return to_wav_bytes(np.frombuffer(pcm, dtype=np.int16))


def _texts(platform: Platform, session: Any, rec: Recording, actor: str) -> dict[str, Any]:
    kinds = session.scalars(select(SealedText.kind).where(SealedText.recording_id == rec.id))
    out: dict[str, Any] = {}
    for kind in kinds:
        if notes.is_note(kind):
            continue  # staff's words about the clip, not what the household said
        raw = platform.gate.open_text(session, rec, kind, actor=actor, purpose=PURPOSE)
        try:
            out[kind] = json.loads(raw) if raw is not None else None
        except json.JSONDecodeError:
            out[kind] = raw
    return out


def _receipts(platform: Platform, household_id: str) -> list[dict[str, Any]]:
    with platform.sessions() as session:
        rows = session.scalars(
            select(DeletionReceipt.body).where(DeletionReceipt.household_id == household_id)
        )
        return [dict(b) for b in rows]
