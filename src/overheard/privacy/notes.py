"""Staff notes about a clip, sealed with the clip's texts.

What a privacy officer writes about a clip (the reason for a re-identification request and the
second officer's decision note, a note on an emergency action) may repeat what was said on it.
So it is stored like the clip's own texts: sealed under the household's data key in
``sealed_texts``, one row per note, bound to the clip. Deleting the clip deletes its notes in the
same transaction, and "delete everything" leaves any copy (a backup) unreadable with the key.
The audit log keeps who did what, when, about which clip; the words go with the clip.

A note is staff's own words, not the household's content: reading one writes no audit event (the
page that shows it is behind the privacy-officer role), and the household's data export leaves
notes out.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..crypto.aead import open_sealed
from ..errors import DecryptionFailed, KeyUnavailable
from ..keys import KeyRing
from ..recordings.deletion import batched
from ..recordings.gate import ContentGate
from ..recordings.models import Recording, SealedText

PREFIX = "note:"
"""Every staff note's sealed-text kind starts so (kinds are at most 32 characters)."""
REMOVED = "(removed with the recording)"
"""What a page shows for a note whose clip was deleted, or whose household key was destroyed."""


def reason_kind(request_id: str) -> str:
    """The kind of a re-identification request's reason."""
    return f"{PREFIX}r:{request_id}"


def decision_kind(request_id: str) -> str:
    """The kind of the decision note on a re-identification request."""
    return f"{PREFIX}d:{request_id}"


def action_kind(action_id: int) -> str:
    """The kind of the note on an emergency action."""
    return f"{PREFIX}e:{action_id}"


def is_note(kind: str) -> bool:
    """Whether a sealed text of ``kind`` is a staff note (not the household's content)."""
    return kind.startswith(PREFIX)


def write(gate: ContentGate, session: Session, recording: Recording, kind: str, text: str) -> None:
    """Seal ``text`` (if any) as note ``kind`` on ``recording``, in the caller's transaction."""
    if text:
        gate.seal_new_text(session, recording, kind, text)


def read(session: Session, keyring: KeyRing, kinds: Collection[str]) -> dict[str, str]:
    """The notes of ``kinds`` still stored and readable, by kind; a deleted clip's are absent."""
    found: dict[str, str] = {}
    for chunk in batched(sorted(set(kinds))):
        rows = session.execute(
            select(SealedText.kind, SealedText.sealed, Recording.id, Recording.household_id)
            .join(Recording, Recording.id == SealedText.recording_id)
            .where(SealedText.kind.in_(chunk))
        )
        for kind, sealed, recording_id, household_id in rows:
            try:
                key = keyring.data_key(session, household_id)
                plain = open_sealed(key, sealed, record_id=recording_id, kind=kind)
            except (KeyUnavailable, DecryptionFailed):
                continue  # sealed under a destroyed key: as good as gone
            found[kind] = plain.decode()
    return found
