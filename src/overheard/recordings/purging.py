"""What a recording's purges do once their copy is gone: clear the pointer, audit the truth.

An audio purge (accidental wake, accidental retention, a failed recording past
``failed_audio_keep_s``) leaves ``audio_blob`` set until the blob is
gone; its completion clears it and writes ``recordings.purge_audio`` with ``audio_purged: true``.
A deletion's purges (audio, disguised copies, stray blobs, plaintext working folders, model files)
carry the receipt id; when the last one of a receipt is done, the receipt is stamped
``completed_at`` and ``recordings.purged`` is audited: only then has every copy gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from .. import audit, purges
from ..purges import Done, Target
from .models import DeletionReceipt, Recording

ACCIDENTAL_PURGE = "accidental"
"""Reason of the purge of an accidental wake's audio."""
RETENTION_PURGE = "retention"
"""Reason of the purge of an accidental wake's audio past ``accidental_retention_s``."""
FAILED_PURGE = "failed_audio"
"""Reason of the purge of a failed recording's audio (as received) past ``failed_audio_keep_s``."""
TRIMMED_PURGE = "trimmed"
"""Reason of the purge of a received clip replaced by its request-only copy (no completion)."""
DELETION_PURGE = "deletion"
"""Reason of the purges a deletion receipt waits for."""
ACTOR = "system:purge"
RECEIPTS_CHECKED = "overheard.receipts_checked"
"""``Session.info`` key: receipts whose completion this transaction has already looked at."""
AUDIO_ACTORS = {
    ACCIDENTAL_PURGE: "system:pipeline",
    RETENTION_PURGE: "system:retention",
    FAILED_PURGE: "system:retention",
}
"""Who an audio purge's audit event names: the service that decided it."""


def schedule_audio_purge(
    session: Session, rec: Recording, *, reason: str, now: datetime | None = None
) -> list[str]:
    """Schedule the removal of ``rec``'s audio blob; the row still points at it until it is gone."""
    if not rec.audio_blob:
        return []
    return purges.schedule(
        session,
        Target.BLOB,
        [rec.audio_blob],
        reason=reason,
        recording_id=rec.id,
        household_id=rec.household_id,
        now=now,
    )


def audio_gone(session: Session, done: Done) -> None:
    """The audio blob is gone: the row says so now, and the audit event is true."""
    cleared = session.execute(
        update(Recording)
        .where(Recording.id == done.recording_id, Recording.audio_blob == done.location)
        .values(audio_blob=None)
    )
    if cleared.rowcount != 1:  # type: ignore[attr-defined]
        return  # the recording was deleted meanwhile: its receipt speaks for it
    audit.append(
        session,
        actor=AUDIO_ACTORS.get(done.reason, ACTOR),
        action="recordings.purge_audio",
        subject=done.recording_id,
        household_id=done.household_id,
        reason=done.reason,
        now=done.at,
        details={"audio_purged": True},
    )


def deletion_copy_gone(session: Session, done: Done) -> None:
    """One copy of a deletion is gone; the last one completes its receipt."""
    checked: set[str] = session.info.setdefault(RECEIPTS_CHECKED, set())
    if done.receipt_id is None or done.receipt_id in checked:
        return  # the purges of one transaction are all deleted first: one look per receipt
    checked.add(done.receipt_id)
    if purges.pending(session, receipt_id=done.receipt_id):
        return
    stamped = session.execute(
        update(DeletionReceipt)
        .where(DeletionReceipt.id == done.receipt_id, DeletionReceipt.completed_at.is_(None))
        .values(completed_at=done.at)
    )
    if stamped.rowcount != 1:  # type: ignore[attr-defined]
        return
    complete_receipt_audit(session, done.receipt_id, done.household_id, done.at)


def complete_receipt_audit(
    session: Session, receipt_id: str, household_id: str | None, at: datetime
) -> None:
    """The audit event saying every copy a receipt names is gone."""
    audit.append(
        session,
        actor=ACTOR,
        action="recordings.purged",
        subject=receipt_id,
        household_id=household_id,
        now=at,
        details={"every_copy_gone": True},
    )


def register() -> None:
    """Install the completions (idempotent; also done at import)."""
    purges.COMPLETIONS[ACCIDENTAL_PURGE] = audio_gone
    purges.COMPLETIONS[RETENTION_PURGE] = audio_gone
    purges.COMPLETIONS[FAILED_PURGE] = audio_gone
    purges.COMPLETIONS[DELETION_PURGE] = deletion_copy_gone


register()
