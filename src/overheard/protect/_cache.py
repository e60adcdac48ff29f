"""The one disguised rendition of each sampled clip, sealed under the household key as a blob.

Every serve of a clip must carry the same disguise: fresh random disguises of one clip could be
averaged by a listener back towards the speaker's voice. So the rendition job draws the parameters
once, and the disguised PCM is kept under ``disguised/<household>/<recording>/<nonce>``, sealed under the
household data key with the recording id bound in (crypto-shredding the household makes it
unreadable at once). Deleting the recording, or flagging it ``sensitive``, removes the copy.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import bindparam, delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from .. import audit, purges
from ..blobs import SESSION_INFO_KEY, BlobStore
from ..crypto.aead import open_sealed, seal
from ..errors import NotFound
from ..keys import any_key_row
from ..purges import Target
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from ..recordings.purging import DELETION_PURGE
from . import _marking
from . import watermark as wm
from ._tables import DisguisedClip

DISGUISED_PREFIX = "disguised/{household_id}/"
"""Blob prefix of a household's disguised copies (listed in ``HOUSEHOLD_BLOB_PREFIXES``)."""
DISGUISED_KIND = "audio.disguised.pcm16"
"""Sealed-record kind of a disguised copy: 16 kHz mono little-endian PCM16."""
MARKED_SUFFIX = f".wm{wm.VERSION}"
"""Blob-key ending of a copy sealed with its watermark's first measurement (``MARKED_KIND``)."""
MARKED_KIND = f"{DISGUISED_KIND}+wm{wm.VERSION}"
"""Sealed-record kind of such a copy: the measurement (``watermark.FIRST_TILES_SHAPE``, float64
little-endian) then the PCM16. A copy of another watermark version keeps the plain PCM's use."""
_WITH_MEASUREMENT = re.compile(r"\.wm(\d+)$")
_TILES_BYTES = 8 * math.prod(wm.FIRST_TILES_SHAPE)
BLOB_STORE_INFO = SESSION_INFO_KEY
"""``Session.info`` key under which a platform's sessions carry its blob store (for hooks)."""
NONCE_BYTES = 8


def carry_blob_store(sessions: sessionmaker[Session], blobs: BlobStore) -> None:
    """Make every session of ``sessions`` know ``blobs``, so hooks can remove cached copies."""
    info = dict(sessions.kw.get("info") or {})
    info[BLOB_STORE_INFO] = blobs
    sessions.configure(info=info)


def new_blob_key(recording: Recording, suffix: str = "") -> str:
    """A fresh key for a recording's disguised copy (a new nonce each time: writers never clash)."""
    prefix = DISGUISED_PREFIX.format(household_id=recording.household_id)
    return f"{prefix}{recording.id}/{secrets.token_hex(NONCE_BYTES)}{suffix}"


@dataclass(frozen=True)
class Rendition:
    """A recording's stored disguised PCM and the method version that made it."""

    pcm: bytes
    """16 kHz mono PCM16."""
    method_version: int
    blob_key: str = ""
    """Where it is stored (a fresh nonce per rendition: names this exact audio)."""
    first_tiles: NDArray[np.float64] | None = None
    """The watermark's first measurement of ``pcm`` (``_marking.first_measurement``), made when
    the copy was stored; None for a copy stored without it."""


def stored_version(session: Session, recording_id: str) -> int | None:
    """The method version of the recording's stored rendition, or None when it has none."""
    return session.scalar(
        select(DisguisedClip.method_version).where(DisguisedClip.recording_id == recording_id)
    )


_RENDITION = select(DisguisedClip).where(DisguisedClip.recording_id == bindparam("recording_id"))
"""A recording's rendition row (built once: every serve reads it)."""


def open_cached(
    session: Session, gate: ContentGate, recording: Recording, *, actor: str, purpose: str
) -> Rendition | None:
    """The stored rendition, audited like a gate open; None when there is none (yet)."""
    # A row this transaction already loaded (the serve's lease check joins it) costs no query.
    row = session.identity_map.get(Session.identity_key(DisguisedClip, recording.id))
    if row is None:
        row = session.scalars(_RENDITION, {"recording_id": recording.id}).first()
    if row is None:
        return None
    opened = _open_blob(session, gate, recording, row.blob_key, actor=actor, purpose=purpose)
    if opened is None:
        return None
    pcm, tiles = _split(opened, row.blob_key)
    return Rendition(pcm, row.method_version, row.blob_key, tiles)


def _kind(blob_key: str) -> str:
    """The sealed-record kind of the copy stored under ``blob_key`` (named by its ending)."""
    found = _WITH_MEASUREMENT.search(blob_key)
    return f"{DISGUISED_KIND}+wm{found.group(1)}" if found else DISGUISED_KIND


def _split(opened: bytes, blob_key: str) -> tuple[bytes, NDArray[np.float64] | None]:
    """The PCM of an opened copy, and the first measurement it carries for this watermark."""
    kind = _kind(blob_key)
    if kind == DISGUISED_KIND:
        return opened, None
    tiles = np.frombuffer(opened[:_TILES_BYTES], dtype="<f8").reshape(wm.FIRST_TILES_SHAPE)
    return opened[_TILES_BYTES:], (tiles.astype(np.float64) if kind == MARKED_KIND else None)


def _open_blob(
    session: Session, gate: ContentGate, recording: Recording, key: str, *, actor: str, purpose: str
) -> bytes | None:
    data_key = gate.keyring.data_key(session, recording.household_id)
    try:
        blob = gate.blobs.get(key)
    except NotFound:
        return None  # a removal that committed its blob but not its row: made again
    pcm = open_sealed(data_key, blob, record_id=recording.id, kind=_kind(key))
    audit.append_later(  # written with the transaction's other events, one INSERT
        session,
        actor=actor,
        action="content.open",
        subject=recording.id,
        household_id=recording.household_id,
        reason=purpose,
        details={"kind": DISGUISED_KIND},
    )
    return pcm


def measure(pcm: bytes) -> NDArray[np.float64] | None:
    """The watermark's first measurement of the PCM16 ``pcm``, to store with it (None when the
    mark leaves the clip as it is). About a millisecond: made before the storing transaction."""
    return _marking.first_measurement(np.frombuffer(pcm, dtype="<i2").astype(np.int16))


def store(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    pcm: bytes,
    *,
    method_version: int,
    first_tiles: NDArray[np.float64] | None = None,
) -> str:
    """Seal ``pcm`` as the recording's rendition, with ``first_tiles`` (``measure(pcm)``, made
    here when not given) so that no serve measures it again; a replaced blob is removed once this
    commits. Returns the new blob's key.

    Call inside a transaction that holds the recording's row; the blob is written before the row,
    so a crash in between leaves only ciphertext that ``sweep_orphans`` removes.
    """
    data_key = gate.keyring.data_key(session, recording.household_id)
    tiles = measure(pcm) if first_tiles is None else first_tiles
    if tiles is None:
        key, kind, body = new_blob_key(recording), DISGUISED_KIND, pcm
    else:
        body = np.ascontiguousarray(tiles, dtype="<f8").tobytes() + pcm
        key, kind = new_blob_key(recording, MARKED_SUFFIX), MARKED_KIND
    gate.blobs.put(key, seal(data_key, body, record_id=recording.id, kind=kind))
    row = session.get(DisguisedClip, recording.id, with_for_update=True)
    if row is None:
        session.add(
            DisguisedClip(recording_id=recording.id, blob_key=key, method_version=method_version)
        )
    else:
        old, row.blob_key, row.method_version = row.blob_key, key, method_version
        _after_commit(session, lambda: _delete_all(gate.blobs, [old]))
    session.flush()
    return key


def purge(session: Session, recording_ids: list[str]) -> int:
    """Remove the cached copies of ``recording_ids``: rows now, blobs by purges (retried until gone)."""
    if not recording_ids:
        return 0
    keys = list(
        session.scalars(
            select(DisguisedClip.blob_key).where(DisguisedClip.recording_id.in_(recording_ids))
        )
    )
    if not keys:
        return 0
    session.execute(delete(DisguisedClip).where(DisguisedClip.recording_id.in_(recording_ids)))
    # A deletion's receipt claims these purges: it completes only once they are gone.
    purges.schedule(session, Target.BLOB, keys, reason=DELETION_PURGE)
    return len(keys)


def _after_commit(session: Session, action: Callable[[], None]) -> None:
    event.listen(session, "after_commit", lambda _s: action(), once=True)


def _delete_all(blobs: BlobStore, keys: list[str]) -> None:
    for key in keys:
        blobs.delete(key)


def sweep_orphans(
    sessions: sessionmaker[Session], blobs: BlobStore, *, grace_s: float, now: datetime
) -> int:
    """Delete disguised-copy blobs older than ``grace_s`` that no row refers to; none while no
    household has a key row (``keys.any_key_row``: a restore may be copying them in)."""
    cutoff = now - timedelta(seconds=grace_s)
    listed = blobs.list("disguised/") if any_key_row(sessions) else ()
    stored = [b.key for b in listed if b.modified_at <= cutoff]
    if not stored:
        return 0
    with sessions() as session:
        live = set(session.scalars(select(DisguisedClip.blob_key)))
    orphans = [key for key in stored if key not in live]
    _delete_all(blobs, orphans)
    return len(orphans)
