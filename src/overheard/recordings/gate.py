"""The content gate: the one place where recording content is sealed and opened.

Every open writes an audit event in the caller's transaction, so there is no plaintext without a
record of who asked for it and why. There are no options to get wrong: callers name an actor and a
purpose, the gate does the rest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .. import audit
from ..blobs import BlobStore
from ..crypto.aead import open_sealed, seal
from ..db import as_utc
from ..errors import DecryptionFailed, Gone, KeyUnavailable, NotFound, RecordingNotFound
from ..keys import KEY_GONE, DataKey, KeyRing
from . import erased
from .models import Recording, SealedText

_CHECKED_INFO = "overheard.sealing_keys_checked"
"""``Session.info`` key: households whose sealing key this transaction has confirmed."""
ERASED_BEFORE = "captured before the household deleted everything"
"""Why an utterance captured before the household's last "delete everything" is refused (410)."""
ERASED_WITHIN = "captured within a time the household deleted"
"""Why an utterance captured in a span the household deleted is refused (410)."""
AUDIO_KIND = "audio.pcm16"
"""Sealed audio is raw 16 kHz mono little-endian PCM16."""
_SEALED_TEXT = select(SealedText).where(
    SealedText.recording_id == bindparam("recording_id"), SealedText.kind == bindparam("kind")
)
"""A recording's sealed text of one kind (built once: every text open and seal reads it)."""


RECORDING_AND_KEY = (
    select(Recording, DataKey)
    .outerjoin(DataKey, DataKey.household_id == Recording.household_id)
    .where(Recording.id == bindparam("recording_id"))
)
"""A recording and its household's key row in one query (built once). While the caller holds the
key row, the gate's opens and seals in that transaction find it loaded and read it no more."""


def recording_and_key(
    session: Session, recording_id: str
) -> tuple[Recording, DataKey | None] | None:
    """The recording and its household's key row (``RECORDING_AND_KEY``), or None. Keep the pair
    for as long as the transaction uses the key: the session holds loaded rows only weakly."""
    found = session.execute(RECORDING_AND_KEY, {"recording_id": recording_id}).first()
    return None if found is None else (found[0], found[1])


def audio_blob_key(recording: Recording) -> str:
    """Where a recording's sealed audio is stored."""
    return f"audio/{recording.household_id}/{recording.id}"


_KEYS = DataKey.__table__.c
_WRAPPED_KEY = select(_KEYS.wrapped, _KEYS.deleted_spans).where(
    _KEYS.household_id == bindparam("household_id", type_=DataKey.household_id.type)
)
"""A household's wrapped key and deleted spans, built once (it is read in every upload's commit,
on the session's connection: a Core statement needs none of the ORM's execution)."""
_WRAPPED_KEY_FOR_SHARE = _WRAPPED_KEY.with_for_update(read=True)


@dataclass(frozen=True)
class SealingKey:
    """A household's data key as read in one transaction, to seal with after that has ended."""

    household_id: str
    wrapped: bytes = field(repr=False)
    """The wrapped key as stored when it was read; a change means it was destroyed or replaced."""
    _key: bytes = field(repr=False)
    erased_at: datetime | None = None
    """When the household last deleted everything (its previous key was destroyed), if it did."""
    deleted_spans: tuple[erased.Span, ...] = ()
    """The capture times the household deleted, as read with the key (:mod:`.erased`)."""

    def refuse_erased(self, captured: datetime) -> None:
        """Raise Gone if an utterance captured at ``captured`` was deleted before it arrived."""
        if self.erased_at is not None and captured <= self.erased_at:
            raise Gone(ERASED_BEFORE)
        if erased.within(self.deleted_spans, captured):
            raise Gone(ERASED_WITHIN)

    def check_current(self, session: Session, captured: datetime | None = None) -> None:
        """Raise KeyUnavailable unless the household still has this key, and keep it so until
        commit; raise Gone if ``captured`` falls in a span deleted since the key was read.

        On PostgreSQL the key row is locked ``FOR SHARE``: destroying the key, or a deletion adding
        a span, waits for the caller's commit. On SQLite the caller's write transaction already
        holds the database lock. Checked once per household and transaction: a batch of uploads
        pays one query. Inside a SAVEPOINT the check counts for that savepoint only: rolling it
        back releases the lock it took.
        """
        checked = session.info.setdefault(_CHECKED_INFO, {})
        transaction = session.get_nested_transaction() or session.get_transaction()
        seen = checked.get(self.household_id)
        if seen is None or seen[:2] != (transaction, self.wrapped):
            pg = session.get_bind().dialect.name == "postgresql"
            query = _WRAPPED_KEY_FOR_SHARE if pg else _WRAPPED_KEY
            found = session.connection().execute(query, {"household_id": self.household_id})
            row = found.first()
            if row is None or row.wrapped != self.wrapped:
                raise KeyUnavailable(KEY_GONE)
            seen = (transaction, self.wrapped, erased.parse(row.deleted_spans))
            checked[self.household_id] = seen
        if captured is not None and erased.within(seen[2], captured):
            raise Gone(ERASED_WITHIN)


@dataclass
class ContentGate:
    """Seals content under the household key and opens it only with an audit event."""

    keyring: KeyRing
    blobs: BlobStore

    def seal_audio(self, session: Session, recording: Recording, pcm16: bytes) -> str:
        """Encrypt and durably store a recording's audio; returns the blob key (not yet on the row)."""
        key = self.keyring.data_key(session, recording.household_id)
        blob_key = audio_blob_key(recording)
        self.blobs.put(blob_key, seal(key, pcm16, record_id=recording.id, kind=AUDIO_KIND))
        return blob_key

    def sealing_key(self, session: Session, household_id: str) -> SealingKey:
        """The household's key, to seal audio with outside this (read) transaction."""
        return self.sealing_key_of(session.get(DataKey, household_id), household_id)

    def sealing_key_of(self, row: DataKey | None, household_id: str) -> SealingKey:
        """:meth:`sealing_key` of a key row the caller read in its (ended) read transaction."""
        key = self.keyring.data_key_of(row, household_id)
        assert row is not None and row.wrapped is not None  # data_key_of() raised otherwise
        at = as_utc(row.destroyed_at) if row.destroyed_at is not None else None
        spans = erased.parse(row.deleted_spans)
        return SealingKey(household_id, row.wrapped, key, at, spans)

    def store_audio(self, key: SealingKey, recording: Recording, pcm16: bytes) -> str:
        """Encrypt and durably store a recording's audio under ``key``; returns the blob key.

        The caller commits the row in a transaction that first calls ``key.check_current``.
        """
        if key.household_id != recording.household_id:
            raise ValueError("a sealing key is for its own household only")
        blob_key = audio_blob_key(recording)
        self.blobs.put(blob_key, seal(key._key, pcm16, record_id=recording.id, kind=AUDIO_KIND))
        return blob_key

    def reseal_audio(self, session: Session, recording: Recording, pcm16: bytes) -> str:
        """Seal ``pcm16`` as the recording's new audio under a fresh key; returns the key.

        The caller points the row at it and deletes the old blob after commit: until then the old
        audio stays whole, and a crash in between leaves only an orphan blob for the sweeper.
        """
        key = self.keyring.data_key(session, recording.household_id)
        blob_key = f"{audio_blob_key(recording)}.{secrets.token_hex(8)}"
        self.blobs.put(blob_key, seal(key, pcm16, record_id=recording.id, kind=AUDIO_KIND))
        return blob_key

    def seal_text(self, session: Session, recording: Recording, kind: str, text: str) -> None:
        """Store (or replace) a text derived from ``recording``, sealed."""
        key = self.keyring.data_key(session, recording.household_id)
        sealed = seal(key, text.encode(), record_id=recording.id, kind=kind)
        row = session.scalars(_SEALED_TEXT, {"recording_id": recording.id, "kind": kind}).first()
        if row is None:
            session.add(SealedText(recording_id=recording.id, kind=kind, sealed=sealed))
        else:
            row.sealed = sealed
        session.flush()

    def seal_new_text(self, session: Session, recording: Recording, kind: str, text: str) -> None:
        """Seal a text of a ``kind`` new to ``recording`` (named after a row this transaction
        adds), written at the session's next flush: no read of an earlier text of that kind and no
        flush of its own. Were there one after all, the unique (recording, kind) constraint refuses
        the flush rather than the text being replaced."""
        with session.no_autoflush:  # the key read need not write the caller's pending rows first
            key = self.keyring.data_key(session, recording.household_id)
        sealed = seal(key, text.encode(), record_id=recording.id, kind=kind)
        session.add(SealedText(recording_id=recording.id, kind=kind, sealed=sealed))

    def open_audio(
        self, session: Session, recording: Recording, *, actor: str, purpose: str
    ) -> bytes:
        """The recording's PCM16 audio, with an audit event for ``actor`` and ``purpose``."""
        if recording.audio_blob is None:
            raise RecordingNotFound("this recording's audio was purged", code="audio_purged")
        key = self.keyring.data_key(session, recording.household_id)
        try:
            blob = self.blobs.get(recording.audio_blob)
        except NotFound:
            raise RecordingNotFound(
                "this recording's audio is missing", code="audio_missing"
            ) from None
        pcm = self._open(session, recording, key, blob, AUDIO_KIND)
        self._audit(session, recording, actor, purpose, AUDIO_KIND)
        return pcm

    def open_text(
        self, session: Session, recording: Recording, kind: str, *, actor: str, purpose: str
    ) -> str | None:
        """A derived text in plaintext (None if there is none), with an audit event."""
        row = session.scalars(_SEALED_TEXT, {"recording_id": recording.id, "kind": kind}).first()
        if row is None:
            return None
        key = self.keyring.data_key(session, recording.household_id)
        text = self._open(session, recording, key, row.sealed, kind).decode()
        self._audit(session, recording, actor, purpose, kind)
        return text

    def _open(
        self, session: Session, recording: Recording, key: bytes, sealed: bytes, kind: str
    ) -> bytes:
        """Open ``sealed``; KeyUnavailable (not DecryptionFailed) for a recording captured before
        the household's key was last replaced: it was sealed under the destroyed generation (the
        purge of "delete everything" that removes it commits after the key's replacement)."""
        try:
            return open_sealed(key, sealed, record_id=recording.id, kind=kind)
        except DecryptionFailed:
            row = session.get(DataKey, recording.household_id)
            destroyed = row.destroyed_at if row is not None else None
            if destroyed is not None and as_utc(recording.captured_at) <= as_utc(destroyed):
                raise KeyUnavailable(KEY_GONE) from None
            raise

    def _audit(self, session: Session, rec: Recording, actor: str, purpose: str, kind: str) -> None:
        # Kept as a row, not an ORM object, and written with the transaction's other events by
        # one INSERT (``audit.write_pending``), at the latest when the transaction commits.
        audit.append_later(
            session,
            actor=actor,
            action="content.open",
            subject=rec.id,
            household_id=rec.household_id,
            reason=purpose,
            details={"kind": kind},
        )
