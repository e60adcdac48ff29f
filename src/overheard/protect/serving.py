"""What a staff member hears and reads: disguised, watermarked audio and redacted text, per grant.

A *grant* is what entitles one staff member to one clip right now: an annotator's live lease, an open
adjudication for a lead, or a privacy officer's open case. Every serve checks the grant, opens content
through the content gate (audited), opens the clip's one stored disguised rendition (made by a job
when the clip was sampled, see ``rendition``; never computed on a request), marks the audio with a
fresh random 24-bit watermark id recorded in ``watermarks``, and audits ``audio.serve`` in the same
transaction as that row. Text is the ASR hypothesis (and, where allowed,
earlier annotations) through PII redaction, audited ``text.view``. See ``docs/serving.md``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Select, TextClause, bindparam, case, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..config import settings_section
from ..db import as_utc, transaction
from ..errors import NotFound, OverheardError
from ..keys import DataKey
from ..platform import Platform
from ..recordings.deletion import DELETION_HOOKS
from ..recordings.gate import recording_and_key
from ..recordings.models import Recording
from ..recordings.voice_delete import unheard_beside
from ..review import consent
from ..review.content import annotation_kind, open_answer
from ..review.errors import ClipHeld, LeaseExpired
from ..review.flags import FLAG_HOOKS, FlagEvent
from ..review.models import Agreement, Annotation, ReviewTask, TaskState
from ..review.policy import Flag
from ..review.queue import HELD, Lease, lease_of, refuse_unheard
from ..speech.audio import to_wav_bytes
from . import _cache, _marking, focus, rendition
from ._tables import DisguisedClip, Watermark
from .disguise import SAMPLE_RATE_HZ
from .redact import forget_words as redact_words
from .redact import redact
from .timeline import StaffWord, hypothesis_names, staff_words
from .watermark import PAYLOAD_BITS, embed

SERVE_PURPOSE = "review.serve"
"""Purpose on the audit event of every content open made to serve audio."""
TEXT_PURPOSE = "review.text"
"""Purpose on the audit event of every content open made to show text."""
HYPOTHESIS_KIND = "hypothesis"
"""Sealed-text kind of the ASR result (JSON with a ``text`` field)."""
MARK_ID_ATTEMPTS = 16
"""Draws of a fresh watermark id before giving up (collisions are rare: 24-bit ids)."""
COMMIT_ATTEMPTS = 2
"""Tries of the serve transaction (two serves may draw the same fresh watermark id at once)."""


class ServeLimitReached(OverheardError):
    """Too many clips to one staff member within a window; ``retry_after_s`` says when to ask again."""

    status = 429
    code = "serve_rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ServingPolicy:
    """Limits of the serving layer (settings ``serve_<field>``)."""

    max_per_window: int = 30
    """Most distinct clips served to one staff member within ``window_s`` (the burst)."""
    window_s: float = 60.0
    """Sliding window of the burst limit, seconds."""
    max_per_hour: int = 720
    """Most distinct clips served to one staff member within an hour (the sustained rate)."""
    max_replays: int = 20
    """Most serves of one clip under one grant (replays of the clip being reviewed)."""
    second_sees_first: bool = False
    """Whether the annotator of a double-check reads the first annotation (off: keeps them independent)."""
    focus_context_s: float = 0.0
    """Hear less: serve only the unsure words with this much context, seconds; 0 = the whole clip."""
    focus_below: float = 0.6
    """Word confidence under which a word counts as unsure, 0..1."""

    @classmethod
    def from_settings(cls, settings: object) -> ServingPolicy:
        """The policy from ``settings.serve_<field>`` where set, defaults elsewhere."""
        return settings_section(cls, settings, "serve_")


@dataclass(frozen=True)
class ServedClip:
    """One serve: a WAV of the disguised, watermarked clip."""

    wav: bytes
    """16 kHz mono PCM16 WAV file."""
    watermark_id: int
    """The id marked into this copy (``watermarks.id``, 24 bits)."""
    duration_s: float
    """Seconds of audio."""


@dataclass(frozen=True)
class StaffText:
    """The texts a staff member may read for a clip, all PII-redacted."""

    hypothesis: str
    earlier: tuple[str, ...]
    """Earlier annotations' transcripts, oldest first (empty unless the grant allows them)."""
    words: tuple[StaffWord, ...] = ()
    """The hypothesis's timed words, PII spans redacted (empty for a recogniser without timings)."""


@dataclass(frozen=True)
class Target:
    """What a live grant points at."""

    recording: Recording
    pseudonym: str
    """The clip's pseudonym as the listener knows it."""
    earlier: tuple[str, ...] = ()
    """Ids of annotations whose transcripts this listener may read."""
    lease: Lease | None = None
    """The live lease, for a lease grant (as checked inside the transaction)."""
    held: object = field(default=None, repr=False, compare=False)
    """Rows read with the recording that the transaction goes on to use (its household's key row,
    its rendition's row): kept here because the session holds loaded rows only weakly."""


Resolver = Callable[[Session, datetime], Target]
"""Checks a grant is live inside the caller's transaction; raises LeaseExpired or NotFound if not,
and ClipHeld while another clip of the clip's household has not been heard by the pipeline (it may
be a spoken deletion of this one: ``queue.refuse_unheard``)."""


@dataclass(frozen=True)
class Grant:
    """What entitles one staff member to one clip right now."""

    kind: str
    """``lease``, ``adjudication`` or ``case``."""
    id: str
    staff: str
    """Pseudonym of the staff member."""
    resolve: Resolver


_LEASE_TARGET = (
    select(
        ReviewTask,
        Recording,
        DataKey,
        DisguisedClip,
        unheard_beside(Recording.household_id, Recording.id).label("unheard"),
    )
    .join(Recording, Recording.id == ReviewTask.recording_id)
    .outerjoin(DataKey, DataKey.household_id == Recording.household_id)
    .outerjoin(DisguisedClip, DisguisedClip.recording_id == Recording.id)
    .where(
        ReviewTask.lease_id == bindparam("lease_id"),
        ReviewTask.leased_to == bindparam("staff"),
        ReviewTask.state == TaskState.LEASED.value,
        ReviewTask.lease_until >= bindparam("now"),
    )
    .with_for_update(of=ReviewTask)
)
"""A live lease's task (its row locked), its recording, the household's key row and the clip's
rendition row (which the serve's open then finds loaded) in one query, built once and reused; with
whether another clip of the household is unheard (``queue.refuse_unheard``, no further statement)."""


def lease_grant(lease_id: str, staff: str, policy: ServingPolicy = ServingPolicy()) -> Grant:
    """The grant of an annotator's lease (live, and held by ``staff``)."""

    def resolve(session: Session, now: datetime) -> Target:
        params = {"lease_id": lease_id, "staff": staff, "now": now}
        found = session.execute(_LEASE_TARGET, params).first()
        if found is None:
            raise LeaseExpired("this lease has expired or was withdrawn")
        if found.unheard:
            raise ClipHeld(HELD)
        return _lease_target(session, found[0], found[1], policy, held=found[2:4])

    return Grant("lease", lease_id, staff, resolve)


def claimed_grant(task: ReviewTask, staff: str, policy: ServingPolicy = ServingPolicy()) -> Grant:
    """The grant of a lease ``staff`` was given (or found holding) by ``queue.claim_task`` in the
    caller's transaction: the task is not read again, only its recording."""
    assert task.lease_id is not None

    def resolve(session: Session, now: datetime) -> Target:
        live = task.state == TaskState.LEASED.value and task.leased_to == staff
        loaded = recording_and_key(session, task.recording_id) if task.recording_id else None
        if not live or task.lease_until is None or task.lease_until < now or loaded is None:
            raise LeaseExpired("this lease has expired or was withdrawn")
        refuse_unheard(session, task.household_id, loaded[0].id)
        return _lease_target(session, task, loaded[0], policy, held=loaded[1])

    return Grant("lease", task.lease_id, staff, resolve)


def _lease_target(
    session: Session, task: ReviewTask, recording: Recording, policy: ServingPolicy, *, held: object
) -> Target:
    earlier = _first_pass(session, task) if policy.second_sees_first else ()
    return Target(recording, task.pseudonym, earlier, lease_of(task), held)


_RECORDING = select(Recording).where(Recording.id == bindparam("recording_id"))


def _recording(session: Session, recording_id: str | None) -> Recording | None:
    if not recording_id:
        return None
    return session.scalars(_RECORDING, {"recording_id": recording_id}).first()


def _first_pass(session: Session, task: ReviewTask) -> tuple[str, ...]:
    if task.first_task_id is None:
        return ()
    found = session.scalars(
        select(Annotation.id).where(
            Annotation.task_id == task.first_task_id, Annotation.kind == "review"
        )
    ).first()
    return (found,) if found else ()


def adjudication_grant(agreement_id: str, lead: str) -> Grant:
    """The grant of an open adjudication (leads hold no lease); both annotations may be read."""

    def resolve(session: Session, now: datetime) -> Target:
        item = session.get(Agreement, agreement_id, with_for_update=True)
        recording = _recording(session, item.recording_id if item else None)
        if item is None or item.state != "open" or recording is None:
            raise NotFound("no such open adjudication", code="adjudication_not_found")
        refuse_unheard(session, recording.household_id, recording.id)
        second = session.get_one(Annotation, item.second_annotation_id)
        task = session.get_one(ReviewTask, second.task_id)
        earlier = (item.first_annotation_id, item.second_annotation_id)
        return Target(recording, task.pseudonym, earlier)

    return Grant("adjudication", agreement_id, lead, resolve)


def clip_for_lease(
    platform: Platform, *, lease_id: str, staff: str, now: datetime
) -> ServedClip:
    """The leased clip for its holder: disguised, watermarked, audited; LeaseExpired otherwise."""
    policy = ServingPolicy.from_settings(platform.settings)
    return serve_clip(platform, lease_grant(lease_id, staff, policy), now=now)


def text_for_lease(platform: Platform, *, lease_id: str, staff: str, now: datetime) -> StaffText:
    """The leased clip's redacted hypothesis (and first annotation, if policy allows), audited."""
    return text_and_lease(platform, lease_id=lease_id, staff=staff, now=now)[0]


def text_and_lease(
    platform: Platform, *, lease_id: str, staff: str, now: datetime
) -> tuple[StaffText, Lease]:
    """The leased clip's texts (``text_for_lease``) and the lease they were served under, checked
    in the same transaction."""
    policy = ServingPolicy.from_settings(platform.settings)
    text, target = _serve_text(platform, lease_grant(lease_id, staff, policy), now=now)
    assert target.lease is not None
    return text, target.lease


def clip_for_adjudication(
    platform: Platform, *, agreement_id: str, lead: str, now: datetime
) -> ServedClip:
    """The clip of an open adjudication for a lead; NotFound once it is settled or withdrawn."""
    return serve_clip(platform, adjudication_grant(agreement_id, lead), now=now)


def text_for_adjudication(
    platform: Platform, *, agreement_id: str, lead: str, now: datetime
) -> StaffText:
    """The redacted hypothesis and both annotations' transcripts of an open adjudication."""
    return serve_text(platform, adjudication_grant(agreement_id, lead), now=now)


def check_grant(platform: Platform, grant: Grant, *, now: datetime) -> None:
    """Raise what a serve under ``grant`` would be refused with, opening and recording nothing (a
    page asks this to know when to drop what it shows of the clip)."""
    with transaction(platform.sessions) as session:
        grant.resolve(session, now)


def serve_clip(platform: Platform, grant: Grant, *, now: datetime) -> ServedClip:
    """Serve ``grant``'s clip once: checked, its stored rendition opened, marked, audited.

    No disguise is computed here: a clip without a rendition gets one queued and AudioPreparing.
    """
    policy = ServingPolicy.from_settings(platform.settings)
    for attempt in range(COMMIT_ATTEMPTS):
        # Before the rendition is read: a removal committing from here on is seen by the keep.
        read_since = _marking.CACHE.marker()
        try:
            stored, mark_id, recording_id, span = _open_and_mark(platform, grant, policy, now)
            break
        except IntegrityError:  # two serves drew the same fresh watermark id at once
            if attempt + 1 == COMMIT_ATTEMPTS:
                raise
    if stored is None or stored.method_version != rendition.current_version(platform):
        rendition.request(platform, recording_id)
    if stored is None:
        raise rendition.AudioPreparing("the clip is being prepared; try again in a moment")
    samples = np.frombuffer(focus.cut(stored.pcm, span), dtype="<i2").astype(np.int16)
    key = platform.secrets["watermark"]
    if stored.blob_key:  # the clip's id-free analysis is kept between serves of this rendition
        ref = (stored.blob_key, *span)
        # The measurement stored with the rendition is of the whole clip, not of a cut of it.
        whole = 2 * len(samples) == len(stored.pcm)
        tiles = stored.first_tiles if whole else None
        marked = _marking.embed(
            samples, mark_id, key, ref, read_since=read_since, first_tiles=tiles
        )
    else:
        marked = embed(samples, mark_id, key)
    return ServedClip(to_wav_bytes(marked), mark_id, len(samples) / SAMPLE_RATE_HZ)


def _focus(
    session: Session, platform: Platform, rec: Recording, staff: str, policy: ServingPolicy
) -> tuple[float, float]:
    """The span of the clip to serve, seconds: all of it unless ``focus_context_s`` is set."""
    if policy.focus_context_s <= 0:
        return 0.0, rec.duration_s
    raw = platform.gate.open_text(session, rec, HYPOTHESIS_KIND, actor=staff, purpose=SERVE_PURPOSE)
    words = focus.hypothesis_words(raw)
    return focus.focus_span(
        words, rec.duration_s, below=policy.focus_below, context_s=policy.focus_context_s
    )


def _open_and_mark(
    platform: Platform, grant: Grant, policy: ServingPolicy, now: datetime
) -> tuple[_cache.Rendition | None, int, str, tuple[float, float]]:
    """In one transaction: the grant checked, the rendition opened and the serve recorded."""
    with transaction(platform.sessions) as session:
        target = grant.resolve(session, now)
        _check_rate(session, grant, target.recording.id, policy, now)
        stored = _cache.open_cached(
            session, platform.gate, target.recording, actor=grant.staff, purpose=SERVE_PURPOSE
        )
        if stored is None:
            return None, 0, target.recording.id, (0.0, target.recording.duration_s)
        span = _focus(session, platform, target.recording, grant.staff, policy)
        mark_id = _new_mark(session, grant, target, now, span[1] - span[0])
        return stored, mark_id, target.recording.id, span


HOUR_S = 3600.0


def _check_rate(
    session: Session, grant: Grant, recording_id: str, policy: ServingPolicy, now: datetime
) -> None:
    """Replays of the clip under review are free up to ``max_replays``; new clips are held to a
    burst per ``window_s`` and a sustained rate per hour (bulk harvesting trips them, people don't)."""
    windows = ((policy.window_s, policy.max_per_window), (HOUR_S, policy.max_per_hour))
    replays, found = _serve_counts(session, grant, recording_id, now, windows)
    if replays:
        if replays >= policy.max_replays:
            raise ServeLimitReached(
                f"this clip was already served {replays} times; at most {policy.max_replays}",
                retry_after_s=policy.window_s,
            )
        return
    for (window_s, most), (clips, oldest) in zip(windows, found, strict=True):
        if clips >= most:
            wait = window_s - (now - _aware(oldest)).total_seconds() if oldest else window_s
            raise ServeLimitReached(
                f"at most {most} clips per {window_s:g} s; the next one in {max(wait, 1):.0f} s",
                retry_after_s=max(wait, 1.0),
            )


def _serve_counts(
    session: Session,
    grant: Grant,
    recording_id: str,
    now: datetime,
    windows: tuple[tuple[float, int], ...],
) -> tuple[int, list[tuple[int, datetime | None]]]:
    """In one query: how often ``grant`` was served this clip, and per ``(window_s, most)`` how
    many other clips its staff member was served in the last ``window_s`` and the oldest such
    serve (per clip, its first serve inside each window)."""
    since = [now - timedelta(seconds=window_s) for window_s, _ in windows]
    params: dict[str, object] = {"staff": grant.staff, "grant": grant.id, "recording": recording_id}
    params |= {"now": now, "earliest": min(since)} | {f"since{i}": t for i, t in enumerate(since)}
    found = session.execute(_serve_counts_query(len(windows)), params).one()
    return found[0], [(found[1 + 2 * i], found[2 + 2 * i]) for i in range(len(windows))]


@lru_cache(maxsize=4)
def _serve_counts_query(windows: int) -> Select[Any]:
    """The statement of ``_serve_counts``, built once (bound parameters) and reused."""
    served = Watermark.served_at
    firsts = (
        select(
            *(
                func.min(case((served > bindparam(f"since{i}"), served)))
                .label(f"w{i}")
                for i in range(windows)
            )
        )
        .where(Watermark.staff == bindparam("staff"))
        .where(served > bindparam("earliest"))
        .where(served <= bindparam("now"))
        .where(Watermark.recording_id != bindparam("recording"))
        .group_by(Watermark.recording_id)
        .subquery()
    )
    replays = (
        select(func.count())
        .select_from(Watermark)
        .where(Watermark.grant_id == bindparam("grant"), Watermark.recording_id == bindparam("recording"))
        .scalar_subquery()
    )
    columns = [firsts.c[f"w{i}"] for i in range(windows)]
    return select(replays, *(part for c in columns for part in (func.count(c), func.min(c))))


def _aware(when: datetime) -> datetime:
    # An aggregate over a timestamp column comes back without the column's type on SQLite.
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return as_utc(when)


def _new_mark(
    session: Session, grant: Grant, target: Target, now: datetime, served_s: float
) -> int:
    row = {
        "grant_kind": grant.kind,
        "grant_id": grant.id,
        "staff": grant.staff,
        "task_pseudonym": target.pseudonym,
        "recording_id": target.recording.id,
        "served_at": now,
        "served_s": round(served_s, 3),
    }
    mark_id = _insert_unused_mark(session, row)
    audit.append_later(
        session,
        actor=grant.staff,
        action="audio.serve",
        subject=target.recording.id,
        household_id=target.recording.household_id,
        reason=grant.kind,
        details={
            "watermark": mark_id,
            "task": target.pseudonym,
            grant.kind: grant.id,
            "served_s": round(served_s, 3),
        },
        now=now,
    )
    audit.write_pending(session)  # this transaction's audit events, one INSERT
    return mark_id


def _insert_unused_mark(session: Session, row: dict[str, object]) -> int:
    """Insert the serve's ``watermarks`` row under a fresh random id not issued before; the id.

    One statement a draw: the INSERT does nothing and returns no row when the id is taken (``ON
    CONFLICT DO NOTHING``, which on PostgreSQL also waits out a concurrent serve that drew the same
    id), and then the next draw is tried."""
    connection = session.connection()
    for _ in range(MARK_ID_ATTEMPTS):
        candidate = secrets.randbits(PAYLOAD_BITS)
        if connection.execute(_INSERT_MARK, {**row, "id": candidate}).first() is not None:
            return candidate
    raise OverheardError("no free watermark id; try again", code="watermark_ids_exhausted")


def _insert_mark_statement() -> TextClause:
    """The watermark row's INSERT that skips a used id: the same SQL on SQLite and PostgreSQL,
    each value bound as its column binds it. Written out rather than built with the dialects'
    ``insert().on_conflict_do_nothing()``, which has no cache key: SQLAlchemy compiled that
    statement afresh on every serve."""
    statement = text(
        "INSERT INTO watermarks (id, grant_kind, grant_id, staff, task_pseudonym, recording_id,"
        " served_at, served_s) VALUES (:id, :grant_kind, :grant_id, :staff, :task_pseudonym,"
        " :recording_id, :served_at, :served_s) ON CONFLICT (id) DO NOTHING RETURNING id"
    )
    return statement.bindparams(*(bindparam(c.key, type_=c.type) for c in Watermark.__table__.c))


_INSERT_MARK = _insert_mark_statement()
"""The serve's ``watermarks`` INSERT (built once, found in SQLAlchemy's statement cache after)."""


def serve_text(platform: Platform, grant: Grant, *, now: datetime) -> StaffText:
    """The redacted texts ``grant`` may read, each open audited, plus one ``text.view`` event."""
    return _serve_text(platform, grant, now=now)[0]


def _serve_text(platform: Platform, grant: Grant, *, now: datetime) -> tuple[StaffText, Target]:
    with transaction(platform.sessions) as session:
        opened, target = open_text_in(session, platform, grant, now=now)
    return opened.redacted(), target


@dataclass(frozen=True)
class OpenedText:
    """Texts opened (and audited) for a grant, not yet redacted; ``redacted()`` is what staff see."""

    raw: str | None = field(repr=False)
    """The sealed hypothesis as opened (JSON with ``text``), or None."""
    earlier: tuple[str, ...] = field(repr=False)
    """Earlier annotations' transcripts, already redacted."""

    def redacted(self) -> StaffText:
        """The staff-facing texts (PII redaction runs here, outside any transaction): the rules'
        PII and the names the pipeline's tagger stored with the hypothesis; no encoder runs."""
        raw = self.raw
        text = redact(hypothesis_text(raw), names=hypothesis_names(raw))
        return StaffText(text, self.earlier, staff_words(raw))


def open_text_in(
    session: Session, platform: Platform, grant: Grant, *, now: datetime
) -> tuple[OpenedText, Target]:
    """``serve_text``'s checks, opens and ``text.view`` event inside the caller's transaction
    (they commit or roll back with it), and the target they were made for."""
    target = grant.resolve(session, now)
    rec, actor = target.recording, grant.staff
    raw = platform.gate.open_text(session, rec, HYPOTHESIS_KIND, actor=actor, purpose=TEXT_PURPOSE)
    earlier = tuple(  # typed by reviewers: the rules alone, no tagger ran on them
        redact(text)
        for text in (_transcript(session, platform, rec, a, actor) for a in target.earlier)
        if text is not None
    )
    audit.append_later(
        session,
        actor=actor,
        action="text.view",
        subject=rec.id,
        household_id=rec.household_id,
        reason=grant.kind,
        details={"task": target.pseudonym, "earlier": len(earlier), grant.kind: grant.id},
        now=now,
    )
    return OpenedText(raw, earlier), target


def hypothesis_text(raw: str | None) -> str:
    """The words of a sealed hypothesis (JSON with ``text``), or an empty string."""
    if not raw:
        return ""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return str(body.get("text") or "") if isinstance(body, dict) else str(body)


def _transcript(
    session: Session, platform: Platform, rec: Recording, annotation_id: str, actor: str
) -> str | None:
    try:
        answer = open_answer(
            session,
            platform.gate,
            rec,
            annotation_kind(annotation_id),
            actor=actor,
            purpose=TEXT_PURPOSE,
        )
    except NotFound:
        return None
    return answer.transcript


def on_sensitive(session: Session, event: FlagEvent) -> None:
    """A ``sensitive`` flag: the clip's disguised rendition goes with it.

    The row is held ``FOR KEY SHARE`` first (PostgreSQL): a rendition job holding it ``FOR UPDATE``
    commits before the purge looks, or waits and then finds the clip excluded. A deletion's lock
    (``FOR NO KEY UPDATE``) does not wait for this one.
    """
    session.execute(
        select(Recording.id)
        .where(Recording.id == event.recording_id)
        .with_for_update(read=True, key_share=True)
    )
    _cache.purge(session, [event.recording_id])
    _forget_analyses(session, [event.recording_id])


def on_recordings_deleted(session: Session, recording_ids: list[str]) -> dict[str, int]:
    """Deletion: the recordings' cached disguised copies go too (counted on the receipt)."""
    removed = _cache.purge(session, recording_ids)
    _forget_analyses(session, recording_ids)
    return {"disguised_copies": removed} if removed else {}


def drop_renditions(session: Session, recording_ids: list[str]) -> None:
    """Remove the recordings' disguised renditions and this process's analyses of them (an
    emergency report on a ``sensitive`` clip closed: its officers' copy goes)."""
    _cache.purge(session, recording_ids)
    _forget_analyses(session, recording_ids)


def on_review_off(session: Session, household_id: str) -> None:
    """The household turned review off: its disguised renditions, made only for review, go."""
    ids = list(
        session.scalars(
            select(DisguisedClip.recording_id)
            .join(Recording, Recording.id == DisguisedClip.recording_id)
            .where(Recording.household_id == household_id)
        )
    )
    _cache.purge(session, ids)
    _forget_analyses(session, ids)


def _forget_analyses(session: Session, recording_ids: list[str]) -> None:
    """Drop this process's watermark analyses of the recordings, the marking's working memory and
    the words redaction looked up, now and once ``session`` commits: a serve that read the
    rendition before the commit may come to keep one after either drop (it then sees the drop,
    counted since it began, and keeps nothing)."""
    _marking.forget(recording_ids)
    redact_words()
    event.listen(session, "after_commit", lambda _s: _forget_now(recording_ids), once=True)


def _forget_now(recording_ids: list[str]) -> None:
    _marking.forget(recording_ids)
    redact_words()


def register() -> None:
    """Install the deletion, ``sensitive`` flag and review-off hooks and the rendition job
    (idempotent)."""
    rendition.register()
    if on_recordings_deleted not in DELETION_HOOKS:
        DELETION_HOOKS.append(on_recordings_deleted)
    if on_review_off not in consent.OFF_HOOKS:
        consent.OFF_HOOKS.append(on_review_off)
    hooks = FLAG_HOOKS.setdefault(Flag.SENSITIVE, [])
    if on_sensitive not in hooks:
        hooks.append(on_sensitive)


def install(platform: Platform) -> None:
    """Hooks on, and ``platform``'s sessions carry its blob store so hooks can remove copies."""
    _cache.carry_blob_store(platform.sessions, platform.blobs)
    register()
