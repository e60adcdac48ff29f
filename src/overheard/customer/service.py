"""What the owner's dashboard does: their recordings (opened through the gate), who touched their
data, consent, retention and the deletions. Every function is scoped to one household id; an id of
another household is answered as not found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit, purges
from ..accounts.aliases import alias_key, staff_alias
from ..audit import AuditEvent
from ..db import transaction
from ..errors import BadRequest, KeyUnavailable, NotFound, RecordingNotFound
from ..households import Household, Retention, cutoff
from ..platform import Platform
from ..protect.tracing import listeners
from ..recordings import deletion, voice_delete
from ..recordings.models import ANSWER_ONLY, DeletionReceipt, Recording, Status
from ..recordings.voice_delete import PendingDeletion
from ..review.consent import set_human_review
from ..review.models import Exclusion, ReviewTask
from ..speech.audio import to_wav_bytes
from .rekey import reseal_identity
from .retention import expired

PAGE_SIZE = 50
"""Recordings per dashboard page."""
ACCESS_PAGE_SIZE = 200
"""Audit events per access-log page."""
MAX_RANGE_DAYS = 3660
"""Longest date range one deletion may name, days."""
FIRST_DAY = date(1970, 1, 1)
"""Earliest day a range may name (no recording is older)."""
LAST_DAY = date(9998, 12, 31)
"""Latest day a range may name (one day short of what a date can hold, in any time zone)."""
MAX_PAGE = 1_000_000
"""Highest dashboard page number accepted."""
MAX_SEQ = 2**62
"""Highest audit sequence number accepted as a page boundary."""


def actor_of(account_id: str) -> str:
    """How the owner appears in the audit log."""
    return f"customer:{account_id}"


@dataclass(frozen=True)
class ReviewEntry:
    """One time the recording was sent to human review."""

    reason: str
    """Why it was sampled (``random``, ``low_confidence``, …)."""
    state: str
    reviewer: str | None
    """The reviewer's alias for this household (never their sign-in name), once one finished it."""
    reviewed_at: datetime | None
    sampled_at: datetime
    withdrawn_because: str | None
    served_to: tuple[str, ...] = ()
    """Aliases of the staff the clip was served to under this task (heard, or could have)."""


@dataclass(frozen=True)
class RecordingView:
    """A recording as its owner sees it."""

    id: str
    captured_at: datetime
    duration_s: float
    """Seconds of audio."""
    status: str
    has_audio: bool
    transcript: str | None
    intent: str | None
    reviews: list[ReviewEntry]
    flagged_personal: bool = False
    """A reviewer flagged it as intimate or personal: removed from review and from training."""
    what_it_was: str | None = None
    """In words, for a recording that was never a request: an accidental wake, an answer to the
    device's question, no speech, or one that could not be processed (None: an ordinary
    request)."""


ACCIDENTAL_WORDS = (
    "No wake word was heard at its start: it was never transcribed for review nor sent to a "
    "person, and its audio is deleted when the retention of accidental recordings ends."
)
ANSWER_WORDS = (
    "Your spoken answer to a question from this device, said without the wake word: used only "
    "as that answer, never sent to a person; its words were not kept and its audio is deleted "
    "at once."
)
NO_SPEECH_WORDS = "No speech was heard in it; it was never sent to a person."
FAILED_WORDS = (
    "It could not be processed: it was never transcribed for review nor sent to a person. Its "
    "audio is kept as your device sent it, with anything said before the wake word, only for a "
    "few days so that it can be tried again, then deleted."
)


def what_it_was(status: str, reason: str | None) -> str | None:
    """The dashboard's words for a recording that was never a request (None: it was one)."""
    if status == Status.ACCIDENTAL.value:
        return ANSWER_WORDS if reason == ANSWER_ONLY else ACCIDENTAL_WORDS
    if status == Status.NO_SPEECH.value:
        return NO_SPEECH_WORDS
    if status == Status.FAILED.value:
        return FAILED_WORDS
    return None


@dataclass(frozen=True)
class AccessEntry:
    """One audited touch of the household's data: ids only, never content."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    reason: str | None


def household(session: Session, household_id: str) -> Household:
    """The owner's household row."""
    row = session.get(Household, household_id)
    if row is None:
        raise NotFound("no such household", code="household_not_found")
    return row


def owned_recording(session: Session, household_id: str, recording_id: str) -> Recording:
    """The recording if it belongs to ``household_id``; RecordingNotFound otherwise."""
    rec = session.get(Recording, recording_id)
    if rec is None or rec.household_id != household_id:
        raise RecordingNotFound("no such recording")
    return rec


def reviews_of(
    session: Session, ids: list[str], key: bytes, household_id: str
) -> dict[str, list[ReviewEntry]]:
    """Every review task of each recording, oldest first; reviewers by their household alias
    (``key`` from :func:`~overheard.accounts.aliases.alias_key`)."""
    out: dict[str, list[ReviewEntry]] = {i: [] for i in ids}
    tasks = session.scalars(
        select(ReviewTask).where(ReviewTask.recording_id.in_(ids)).order_by(ReviewTask.created_at)
    )
    heard = listeners(session, ids)
    for t in tasks:
        assert t.recording_id is not None
        served = tuple(
            staff_alias(key, name, scope=household_id)
            for name in heard.get((t.recording_id, t.pseudonym), ())
        )
        out[t.recording_id].append(
            ReviewEntry(
                t.reason,
                t.state,
                staff_alias(key, t.done_by, scope=household_id) if t.done_by else None,
                t.done_at,
                t.created_at,
                t.withdrawn_because,
                served,
            )
        )
    return out


def _open(
    platform: Platform, session: Session, rec: Recording, kind: str, actor: str
) -> str | None:
    try:
        raw = platform.gate.open_text(session, rec, kind, actor=actor, purpose="owner_view")
    except KeyUnavailable:
        return None
    if raw is None:
        return None
    body = json.loads(raw)
    return str(body.get("text" if kind == "hypothesis" else "intent") or "") or None


def list_recordings(
    platform: Platform, household_id: str, actor: str, *, page: int = 0
) -> tuple[list[RecordingView], int]:
    """A page of the household's recordings, newest first, and the total count (audited opens)."""
    with transaction(platform.sessions) as session:
        total = int(
            session.scalar(
                select(func.count())
                .select_from(Recording)
                .where(Recording.household_id == household_id)
            )
            or 0
        )
        rows = session.scalars(
            select(Recording)
            .where(Recording.household_id == household_id)
            .order_by(Recording.captured_at.desc(), Recording.id)
            .offset(max(page, 0) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        reviews = reviews_of(
            session, [r.id for r in rows], alias_key(platform.secrets), household_id
        )
        flagged = set(
            session.scalars(
                select(Exclusion.recording_id).where(
                    Exclusion.recording_id.in_([r.id for r in rows]),
                    Exclusion.reason == "sensitive",
                )
            )
        )
        views = [
            RecordingView(
                r.id,
                r.captured_at,
                r.duration_s,
                r.status,
                r.audio_blob is not None,
                _open(platform, session, r, "hypothesis", actor),
                _open(platform, session, r, "intent", actor),
                reviews[r.id],
                r.id in flagged,
                what_it_was(r.status, r.status_reason),
            )
            for r in rows
        ]
    return views, total


def audio_wav(platform: Platform, household_id: str, recording_id: str, actor: str) -> bytes:
    """The recording's audio as WAV, in the owner's own voice (audited ``owner_playback``)."""
    with transaction(platform.sessions) as session:
        rec = owned_recording(session, household_id, recording_id)
        pcm = platform.gate.open_audio(session, rec, actor=actor, purpose="owner_playback")
    return to_wav_bytes(np.frombuffer(pcm, dtype=np.int16))


def access_log(
    platform: Platform, household_id: str, *, before_seq: int | None = None
) -> list[AccessEntry]:
    """Every audited event about the household, newest first, a page at a time."""
    query = select(AuditEvent).where(AuditEvent.household_id == household_id)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    with platform.sessions() as session:
        rows = session.scalars(query.order_by(AuditEvent.seq.desc()).limit(ACCESS_PAGE_SIZE))
        return [AccessEntry(e.seq, e.at, e.actor, e.action, e.subject, e.reason) for e in rows]


def set_review(platform: Platform, household_id: str, on: bool, actor: str, now: datetime) -> int:
    """Human review on or off, at once; off withdraws every open task. Returns tasks withdrawn."""
    with transaction(platform.sessions) as session:
        return set_human_review(session, household_id, on, actor, now)


def set_retention(
    platform: Platform, household_id: str, retention: str, actor: str, now: datetime
) -> None:
    """Change how long recordings are kept; the next sweep applies it."""
    try:
        choice = Retention(retention)
    except ValueError:
        raise BadRequest("unknown retention choice", code="bad_retention") from None
    with transaction(platform.sessions) as session:
        row = household(session, household_id)
        previous, row.retention = row.retention, choice.value
        audit.append(
            session,
            actor=actor,
            action="household.retention",
            subject=household_id,
            household_id=household_id,
            reason=choice.value,
            now=now,
            details={"previous": previous},
        )


def past_retention(
    platform: Platform, household_id: str, retention: str, now: datetime
) -> tuple[int, datetime | None]:
    """How many of the household's recordings the sweep would delete under ``retention`` now, and
    the cutoff (None: kept until deleted)."""
    try:
        before = cutoff(Retention(retention).value, now)
    except ValueError:
        raise BadRequest("unknown retention choice", code="bad_retention") from None
    if before is None:
        return 0, None
    with platform.sessions() as session:
        query = select(func.count()).select_from(Recording).where(expired(household_id, before))
        return int(session.scalar(query) or 0), before


def pending_voice_deletions(platform: Platform, household_id: str) -> list[PendingDeletion]:
    """Voice deletions of the household that can still be undone."""
    with platform.sessions() as session:
        return voice_delete.pending(session, household_id)


def delete_one(
    platform: Platform, household_id: str, recording_id: str, actor: str, now: datetime
) -> deletion.Receipt:
    """Delete one recording of the household (404 for anyone else's)."""
    with platform.sessions() as session:
        owned_recording(session, household_id, recording_id)
    scope = {"kind": "one", "recording": recording_id}
    return deletion.delete_recordings(
        platform, household_id, [recording_id], actor=actor, scope=scope, now=now
    )


def day_bounds(tz_name: str, first: date, last: date) -> tuple[datetime, datetime]:
    """``[start of first, start of the day after last)`` in the household's time zone."""
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        raise BadRequest("the range must run forwards and span at most ten years", code="bad_range")
    if first < FIRST_DAY or last > LAST_DAY:
        raise BadRequest(f"days must lie between {FIRST_DAY} and {LAST_DAY}", code="bad_range")
    zone = ZoneInfo(tz_name)
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def delete_dates(
    platform: Platform, household_id: str, first: date, last: date, actor: str, now: datetime
) -> deletion.Receipt:
    """Delete the recordings captured on the days ``first`` … ``last`` (household time zone)."""
    with platform.sessions() as session:
        tz = household(session, household_id).timezone
    start, end = day_bounds(tz, first, last)
    return deletion.delete_range(platform, household_id, start, end, actor=actor, now=now)


def count_dates(platform: Platform, household_id: str, first: date, last: date) -> int:
    """How many recordings ``delete_dates`` with these days would delete."""
    with platform.sessions() as session:
        start, end = day_bounds(household(session, household_id).timezone, first, last)
        query = (
            select(func.count())
            .select_from(Recording)
            .where(
                Recording.household_id == household_id,
                Recording.captured_at >= start,
                Recording.captured_at < end,
            )
        )
        return int(session.scalar(query) or 0)


def captured_at(platform: Platform, household_id: str, recording_id: str) -> datetime:
    """When one of the household's recordings was captured (404 for anyone else's)."""
    with platform.sessions() as session:
        return owned_recording(session, household_id, recording_id).captured_at


def delete_all(
    platform: Platform, household_id: str, actor: str, now: datetime
) -> deletion.Receipt:
    """Everything: the key is destroyed first (identity carried over), then every copy purged."""
    return deletion.delete_everything(
        platform, household_id, actor=actor, now=now, handover=reseal_identity
    )


def receipts(
    platform: Platform, household_id: str, *, page: int = 0, size: int = PAGE_SIZE
) -> tuple[list[DeletionReceipt], int]:
    """One page of the household's deletion receipts, newest first, and how many it has in all."""
    mine = DeletionReceipt.household_id == household_id
    with platform.sessions() as session:
        total = session.scalar(select(func.count()).select_from(DeletionReceipt).where(mine)) or 0
        rows = session.scalars(
            select(DeletionReceipt)
            .where(mine)
            .order_by(DeletionReceipt.at.desc(), DeletionReceipt.id)
            .offset(max(page, 0) * size)
            .limit(size)
        )
        return list(rows), total


def receipt(platform: Platform, household_id: str, receipt_id: str) -> dict[str, Any]:
    """One signed receipt of the household (404 for anyone else's)."""
    with platform.sessions() as session:
        row = session.get(DeletionReceipt, receipt_id)
    if row is None or row.household_id != household_id:
        raise NotFound("no such receipt", code="receipt_not_found")
    return dict(row.body)


def receipt_progress(platform: Platform, receipt_id: str) -> tuple[datetime | None, int]:
    """When every copy a receipt names was gone (None while not), and how many still wait."""
    with platform.sessions() as session:
        row = session.get(DeletionReceipt, receipt_id)
        waiting = purges.pending(session, receipt_id=receipt_id)
    return (row.completed_at if row is not None else None), waiting
