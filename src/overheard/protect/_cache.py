"""The one disguised copy of each served clip, sealed under the household key as a blob.

Every serve of a clip must carry the same disguise: fresh random disguises of one clip could be
averaged by a listener back towards the speaker's voice. So the first serve draws the parameters,
and the disguised PCM is kept under ``disguised/<household>/<recording>/<nonce>``, sealed under the
household data key with the recording id bound in (crypto-shredding the household makes it
unreadable at once). Deleting the recording, or flagging it ``sensitive``, removes the copy.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from .. import audit
from ..blobs import BlobStore
from ..crypto.aead import open_sealed, seal
from ..errors import NotFound
from ..recordings.gate import ContentGate
from ..recordings.models import Recording
from ._tables import DisguisedClip

DISGUISED_PREFIX = "disguised/{household_id}/"
"""Blob prefix of a household's disguised copies (listed in ``HOUSEHOLD_BLOB_PREFIXES``)."""
DISGUISED_KIND = "audio.disguised.pcm16"
"""Sealed-record kind of a disguised copy: 16 kHz mono little-endian PCM16."""
BLOB_STORE_INFO = "overheard.blob_store"
"""``Session.info`` key under which a platform's sessions carry its blob store (for hooks)."""
NONCE_BYTES = 8


def carry_blob_store(sessions: sessionmaker[Session], blobs: BlobStore) -> None:
    """Make every session of ``sessions`` know ``blobs``, so hooks can remove cached copies."""
    info = dict(sessions.kw.get("info") or {})
    info[BLOB_STORE_INFO] = blobs
    sessions.configure(info=info)


def new_blob_key(recording: Recording) -> str:
    """A fresh key for a recording's disguised copy (a new nonce each time: writers never clash)."""
    prefix = DISGUISED_PREFIX.format(household_id=recording.household_id)
    return f"{prefix}{recording.id}/{secrets.token_hex(NONCE_BYTES)}"


def open_cached(
    session: Session, gate: ContentGate, recording: Recording, *, actor: str, purpose: str
) -> bytes | None:
    """The cached disguised PCM, audited like a gate open; None when there is none (yet)."""
    row = session.get(DisguisedClip, recording.id)
    if row is None:
        return None
    return _open_blob(session, gate, recording, row.blob_key, actor=actor, purpose=purpose)


def _open_blob(
    session: Session, gate: ContentGate, recording: Recording, key: str, *, actor: str, purpose: str
) -> bytes | None:
    data_key = gate.keyring.data_key(session, recording.household_id)
    try:
        blob = gate.blobs.get(key)
    except NotFound:
        return None  # a removal that committed its blob but not its row: recompute
    pcm = open_sealed(data_key, blob, record_id=recording.id, kind=DISGUISED_KIND)
    audit.append(
        session,
        actor=actor,
        action="content.open",
        subject=recording.id,
        household_id=recording.household_id,
        reason=purpose,
        details={"kind": DISGUISED_KIND},
    )
    return pcm


def keep(
    session: Session,
    gate: ContentGate,
    recording: Recording,
    pcm: bytes,
    *,
    actor: str,
    purpose: str,
) -> bytes:
    """Cache ``pcm`` as the clip's disguise, unless another serve cached one first: then use that.

    Call inside a transaction; the row is locked so concurrent first serves agree on one copy.
    """
    row = session.get(DisguisedClip, recording.id, with_for_update=True)
    if row is not None:
        theirs = _open_blob(session, gate, recording, row.blob_key, actor=actor, purpose=purpose)
        if theirs is not None:
            return theirs
    data_key = gate.keyring.data_key(session, recording.household_id)
    key = new_blob_key(recording)
    gate.blobs.put(key, seal(data_key, pcm, record_id=recording.id, kind=DISGUISED_KIND))
    if row is None:
        session.add(DisguisedClip(recording_id=recording.id, blob_key=key))
    else:
        row.blob_key = key
    session.flush()
    return pcm


def purge(session: Session, recording_ids: list[str]) -> int:
    """Remove the cached copies of ``recording_ids``: rows now, blobs once the transaction commits."""
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
    blobs: BlobStore | None = session.info.get(BLOB_STORE_INFO)
    if blobs is not None:
        _after_commit(session, lambda: _delete_all(blobs, keys))
    # Without a blob store on the session the blobs stay as ciphertext with no row:
    # ``sweep_orphans`` removes them, and "delete everything" empties the household prefix.
    return len(keys)


def _after_commit(session: Session, action: Callable[[], None]) -> None:
    event.listen(session, "after_commit", lambda _s: action(), once=True)


def _delete_all(blobs: BlobStore, keys: list[str]) -> None:
    for key in keys:
        blobs.delete(key)


def sweep_orphans(
    sessions: sessionmaker[Session], blobs: BlobStore, *, grace_s: float, now: datetime
) -> int:
    """Delete disguised-copy blobs older than ``grace_s`` that no row refers to."""
    cutoff = now - timedelta(seconds=grace_s)
    stored = [b.key for b in blobs.list("disguised/") if b.modified_at <= cutoff]
    if not stored:
        return 0
    with sessions() as session:
        live = set(session.scalars(select(DisguisedClip.blob_key)))
    orphans = [key for key in stored if key not in live]
    _delete_all(blobs, orphans)
    return len(orphans)
