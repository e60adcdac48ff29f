"""Sealing export shards and clips: the one place in the learning loop that holds a data key.

A shard holds one household's clips and is sealed under that household's data key (record id = the
shard id, kind ``export.shard``): destroying the household key makes the whole shard unreadable.
Inside, each clip is sealed again under a random key of its own, which is kept in the database only
sealed under the household key; deleting the recording erases that key, so the one clip becomes
unreadable while the shard file stays as it is. Opening a shard writes an audit event in the
caller's transaction, like the content gate.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from .. import audit
from ..crypto.aead import new_data_key, open_sealed, seal
from ..keys import KeyRing

SHARD_KIND = "export.shard"
CLIP_KIND = "export.clip"
CLIP_KEY_KIND = "export.clip_key"
HEADER_LENGTH_BYTES = 4


@dataclass(frozen=True)
class ClipPayload:
    """What one exported clip carries."""

    wav: bytes
    text: str
    intent: str | None
    duration_s: float
    """Seconds of audio."""
    words: tuple[dict[str, Any], ...] = ()
    """Word alignments (``word``, ``start``, ``end``, ``confidence``) where the label agrees."""


def clip_record(export_id: str, recording_id: str) -> str:
    """The record id a clip and its key are bound to."""
    return f"{export_id}/{recording_id}"


def encode_clip(payload: ClipPayload) -> bytes:
    """Length-prefixed JSON header, then the WAV bytes."""
    header = json.dumps(
        {
            "text": payload.text,
            "intent": payload.intent,
            "duration_s": payload.duration_s,
            "words": list(payload.words),
        }
    ).encode()
    return len(header).to_bytes(HEADER_LENGTH_BYTES, "big") + header + payload.wav


def decode_clip(blob: bytes) -> ClipPayload:
    """The inverse of :func:`encode_clip`."""
    size = int.from_bytes(blob[:HEADER_LENGTH_BYTES], "big")
    header = json.loads(blob[HEADER_LENGTH_BYTES : HEADER_LENGTH_BYTES + size])
    wav = blob[HEADER_LENGTH_BYTES + size :]
    words = tuple(header.get("words") or ())
    return ClipPayload(wav, header["text"], header["intent"], float(header["duration_s"]), words)


def seal_clip(household_key: bytes, record: str, payload: ClipPayload) -> tuple[bytes, bytes]:
    """``(sealed clip, sealed clip key)``: the clip under a fresh key, that key under the household's."""
    clip_key = new_data_key()
    sealed = seal(clip_key, encode_clip(payload), record_id=record, kind=CLIP_KIND)
    return sealed, seal(household_key, clip_key, record_id=record, kind=CLIP_KEY_KIND)


def pack_shard(household_key: bytes, shard_id: str, clips: dict[str, bytes]) -> bytes:
    """A tar of sealed clips (named by recording id), sealed under the household key."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, blob in sorted(clips.items()):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return seal(household_key, buffer.getvalue(), record_id=shard_id, kind=SHARD_KIND)


def open_shard(
    session: Session,
    keyring: KeyRing,
    household_id: str,
    shard_id: str,
    sealed: bytes,
    *,
    actor: str,
) -> dict[str, bytes]:
    """The sealed clips of a shard, with an audit event; KeyUnavailable once the household key is gone."""
    key = keyring.data_key(session, household_id)
    plain = open_sealed(key, sealed, record_id=shard_id, kind=SHARD_KIND)
    audit.append(
        session, actor=actor, action="learn.shard_open", subject=shard_id, household_id=household_id
    )
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
        return {m.name: _read(tar, m) for m in tar.getmembers() if m.isfile()}


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    assert handle is not None
    return handle.read()


def open_clip(
    session: Session,
    keyring: KeyRing,
    household_id: str,
    record: str,
    sealed_key: bytes,
    sealed_clip: bytes,
) -> ClipPayload:
    """One clip of an opened shard, through its own key."""
    key = keyring.data_key(session, household_id)
    clip_key = open_sealed(key, sealed_key, record_id=record, kind=CLIP_KEY_KIND)
    return decode_clip(open_sealed(clip_key, sealed_clip, record_id=record, kind=CLIP_KIND))
