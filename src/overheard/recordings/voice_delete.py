"""Voice deletions with a short undo: "forget what I just said" is carried out after a grace period.

The pipeline schedules the deletion as a job that becomes due ``voice_delete_undo_s`` later, in the
transaction that stores the command's transcript (:func:`queue_scheduled`, :func:`queue_asked`): a
job killed after that commit leaves no command understood but never acted on. Until it is due the
household's dashboard shows it with an *Undo* button. Undo cancels the job (only while it
is still queued) and is audited; a grace of 0 deletes at once. See docs/customer.md.

A deletion the guard wants confirmed ("delete that") is first *asked*: its job waits in state
``awaiting_yes``, which no worker claims, until a plain yes of the same household captured within
``voice_delete_confirm_s`` turns it into an ordinary scheduled deletion (:func:`answer`). Without
a yes it is never carried out. An unclear answer (:func:`overheard.speech.guard.answer_of`) makes
the device ask once more (:func:`reask`): the deadline moves to ``voice_delete_confirm_s`` after the
unclear answer, and only a sure yes then confirms. A clear no (:func:`decline`) is final: the job is
cancelled, audited ``voice_delete.declined``, and no later yes brings it back. A no also cancels a
deletion a yes already confirmed, while its undo period runs and it has not started: a spoken
Undo, as the dashboard's.

A confirmed deletion is not carried out while a clip of the household captured between its command
and its due time is still waiting for the pipeline (other than its yes): that clip may be the no
that cancels it, whatever the order in which workers reach them (:func:`_clear_to_start`). Once
it starts, the worker audits ``voice_delete.started`` under the job's lock; until then a no cancels
it even if a worker has claimed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass

from .. import audit, jobs
from ..db import as_utc, transaction, utcnow
from ..errors import Conflict, NotFound
from ..households import Household
from ..jobs import Because, Job, JobState, Later
from ..platform import Platform
from .deletion import Receipt, delete_last, delete_today, last_said, said_today
from .ingest import PROCESS_JOB
from .models import Recording, Status

JOB_KINDS = {"delete_last": "voice.delete_last", "delete_today": "voice.delete_today"}
"""Job kind per voice command; the job's subject is the command's recording id."""
COMMANDS = {kind: command for command, kind in JOB_KINDS.items()}
"""Voice command per job kind."""
CANCELLED = "cancelled"
"""State of a voice-deletion job the household undid."""
AWAITING = "awaiting_yes"
"""State of a voice-deletion job waiting for a spoken yes (never claimed by a worker)."""
ASKED = "voice_delete.asked"
"""Audit action: a deletion the guard wants confirmed was asked about; its job waits for a yes."""
REASKED = "voice_delete.reasked"
"""Audit action: an unclear answer made the device ask once more."""
DECLINED = "voice_delete.declined"
"""Audit action: the household answered an asked deletion with a no; its job is cancelled."""
TOO_LATE = "voice_delete.too_late"
"""Audit action: a no came for a confirmed deletion that had already started or finished."""
CONFIRMED = "voice_delete.confirmed"
"""Audit action: a spoken yes confirmed an asked deletion; it is scheduled with its undo period."""
STARTED = "voice_delete.started"
"""Audit action: a worker began carrying out a confirmed deletion; from then on a no is too late."""
HOLD_HOOKS: list[Callable[[Session, list[str]], int]] = []
"""Called with the recordings a voice deletion names, in the transaction that asks about or
schedules it: they leave human review at once (returns how many review items were withdrawn)."""
HEAR_FIRST_S = 2.0
"""How long a confirmed deletion waits, each time, for earlier clips still in the pipeline, s."""
UNHEARD_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)
"""States of a pipeline job whose clip has not been fully heard yet."""
UNHEARD_STATUSES = (Status.RECEIVED.value, Status.PROCESSING.value)
"""Statuses of a recording the pipeline has not transcribed (nor found accidental) yet."""


@dataclass(frozen=True)
class PendingDeletion:
    """A voice deletion that can still be undone."""

    job_id: str
    command: str
    """``delete_last`` or ``delete_today``."""
    recording_id: str
    """The recording that said the command."""
    due_at: datetime
    """When it will be carried out (UTC)."""


def schedule(
    platform: Platform, rec: Recording, command: str, *, now: datetime | None = None
) -> Receipt | None:
    """Queue the deletion ``command`` asked for; carried out at once (a receipt) when undo is off."""
    when = now or utcnow()
    if platform.settings.voice_delete_undo_s <= 0:
        return carry_out(platform, command, rec.id, now=when)
    with transaction(platform.sessions) as session:
        queue_scheduled(platform, session, rec, command, when)
    return None


def queue_scheduled(
    platform: Platform, session: Session, rec: Recording, command: str, now: datetime
) -> Job:
    """:func:`schedule` in the caller's transaction (the one storing the command's transcript):
    hold what ``command`` names and queue its job, due ``voice_delete_undo_s`` after ``now``. With
    undo off it is due at ``now``: the caller runs it after the commit, or a worker does."""
    undo_s = max(platform.settings.voice_delete_undo_s, 0.0)
    because = Because(
        rec.device_id, "voice_delete.scheduled", rec.household_id, command, {"undo_s": undo_s}
    )
    return _queue(
        platform, session, rec, command, because, run_after=now + timedelta(seconds=undo_s), now=now
    )


def ask(platform: Platform, rec: Recording, command: str) -> None:
    """Hold the deletion ``command`` until a yes captured within ``voice_delete_confirm_s``."""
    with transaction(platform.sessions) as session:
        queue_asked(platform, session, rec, command, utcnow())


def queue_asked(
    platform: Platform, session: Session, rec: Recording, command: str, now: datetime
) -> Job:
    """:func:`ask` in the caller's transaction (the one storing the command's transcript), audited
    at ``now``."""
    window_s = platform.settings.voice_delete_confirm_s
    because = Because(
        rec.device_id, ASKED, rec.household_id, command, {"confirm_s": window_s}
    )
    return _queue(
        platform,
        session,
        rec,
        command,
        because,
        state=AWAITING,
        run_after=rec.captured_at + timedelta(seconds=window_s),  # the yes's deadline
        now=rec.captured_at,
        audited_at=now,
    )


def _queue(
    platform: Platform,
    session: Session,
    rec: Recording,
    command: str,
    because: Because,
    **when: Any,
) -> Job:
    """Hold what ``command`` names, then queue its job (``when``: state and times) audited as
    ``because`` says."""
    _hold(platform, session, rec, command)
    return jobs.queue_audited(session, because, rec.id, kind=JOB_KINDS[command], **when)


def lock_household(session: Session, rec: Recording) -> None:
    """Lock ``rec``'s household as :func:`_hold` does, for a caller that must take it before its
    first audit event (an append holds the audit lock to the commit)."""
    session.get(Household, rec.household_id, with_for_update=True)


def _hold(platform: Platform, session: Session, rec: Recording, command: str) -> None:
    """Take what the voice deletion ``command`` of ``rec`` names out of human review now, not when
    it is carried out: no reviewer hears what the household asked to delete while its question or
    undo period runs (an undo or a no brings the recordings back, not their review).

    The household's row is locked first, as turning review off locks it: a submit that queues a
    second annotation holds it ``FOR SHARE`` before its task, so this waits for that commit and
    then withdraws the new task too (a task inserted meanwhile is not seen by an ``UPDATE`` that
    waited on another row)."""
    lock_household(session, rec)
    if command == "delete_last":
        ids = last_said(session, rec, platform.settings.voice_delete_window_s)
    else:
        ids = said_today(session, rec)[2]
    for hook in HOLD_HOOKS:
        hook(session, ids)


HELD_AROUND = timedelta(days=1)
"""A pending voice deletion keeps from review the household's recordings captured this close to
its command (``delete_today`` names a whole local day, also what is said after the command)."""


def pending_near(session: Session, rec: Recording, now: datetime) -> bool:
    """Whether a voice deletion of ``rec``'s household that may name it is still pending: asked
    (its answer window open), in its undo period, or running. The sampler leaves such a recording
    out, as :func:`_hold` took out those that had been sampled already."""
    found = session.scalars(
        select(Job.id)
        .join(Recording, Recording.id == Job.subject)
        .where(
            Job.kind.in_(JOB_KINDS.values()),
            _live(now),
            Recording.household_id == rec.household_id,
            Recording.captured_at >= rec.captured_at - HELD_AROUND,
            Recording.captured_at <= rec.captured_at + HELD_AROUND,
        )
        .limit(1)
    ).first()
    return found is not None


def unheard_beside(household_id: object, recording_id: object) -> ColumnElement[bool]:
    """Whether a clip of ``household_id`` other than ``recording_id`` has not been fully heard by
    the pipeline: its pipeline job queued while it is not yet transcribed (received, or
    processing), or still running (a deletion it heard is asked about or scheduled, and an answer
    it heard acted on, in the transaction that stores its transcript: :func:`queue_asked`,
    :func:`queue_scheduled`, :func:`act_on_reply`).

    Until then such a clip may be a spoken deletion that names ``recording_id``: review holds the
    recording meanwhile (no claim, serve or submit), from the upload on, whatever order workers
    take the clips in. Either argument may be a column (a correlated ``EXISTS``, for a claim) or a
    value."""
    other = aliased(Recording)  # never correlated with a recording the caller selects
    # Driven by the pipeline jobs still due or running (few), not by the household's recordings
    # (many): a queued job of a clip already transcribed (retried, or a test's) does not hold.
    return (
        select(Job.id)
        .join(other, other.id == Job.subject)
        .where(
            _heard_not_yet(other),
            other.household_id == household_id,
            other.id != recording_id,
        )
        .exists()
    )


def unheard_beside_any(household_id: ColumnElement[str], recording_id: ColumnElement[str]) -> (
    ColumnElement[bool]
):
    """:func:`unheard_beside` for many candidate rows at once (a claim over the whole queue): the
    households with a clip not yet heard are found once, from the few pipeline jobs still due or
    running, and a row is checked against its own household's clips only if it is one of them.
    Left to plan :func:`unheard_beside` for every row, PostgreSQL drove it from each candidate's
    household's recordings, so a claim's cost grew with the queue times the household's clips
    (about a second a claim with 1,200 tasks of one household queued)."""
    other = aliased(Recording)
    households = (
        select(other.household_id)
        .select_from(Job)
        .join(other, other.id == Job.subject)
        .where(_heard_not_yet(other))
    )
    return household_id.in_(households) & unheard_beside(household_id, recording_id)


def _heard_not_yet(clip: type[Recording] | AliasedClass[Recording]) -> ColumnElement[bool]:
    """Whether the pipeline job joined to ``clip`` (a recording, or an alias of it) has not yet
    fully heard it: queued while the clip is not transcribed, or running."""
    return (
        (Job.kind == PROCESS_JOB)
        & Job.state.in_(UNHEARD_STATES)
        & or_(Job.state == JobState.RUNNING.value, clip.status.in_(UNHEARD_STATUSES))
    )


_UNHEARD = select(
    unheard_beside(
        bindparam("household_id", type_=Recording.household_id.type),
        bindparam("recording_id", type_=Recording.id.type),
    )
)
"""``held_unheard``'s statement, built once (it runs on every submit and text serve)."""


def held_unheard(session: Session, household_id: str, recording_id: str) -> bool:
    """:func:`unheard_beside` for one recording."""
    values = {"household_id": household_id, "recording_id": recording_id}
    return bool(session.scalar(_UNHEARD, values))


def _live(now: datetime) -> ColumnElement[bool]:
    """A voice deletion job that may still be carried out: asked (its answer window open), in its
    undo period, or running."""
    return or_(
        Job.state.in_((JobState.QUEUED.value, JobState.RUNNING.value)),
        (Job.state == AWAITING) & (Job.run_after >= now),
    )


def pending_commands(session: Session, now: datetime) -> dict[str, list[datetime]]:
    """Per household, when the commands of its voice deletions still pending were captured: a
    recording of the household captured within ``HELD_AROUND`` of one is :func:`pending_near`
    (one query for many recordings)."""
    return _captures(session, Job.kind.in_(JOB_KINDS.values()) & _live(now))


def unheard_captures(session: Session) -> dict[str, list[datetime]]:
    """Per household, when its clips the pipeline has not fully heard were captured (as
    :func:`unheard_beside` tells them): each may be a spoken deletion, so a recording captured
    within ``HELD_AROUND`` of one is held like one :func:`pending_commands` names (one query)."""
    return _captures(session, _heard_not_yet(Recording))


def _captures(session: Session, jobs_where: ColumnElement[bool]) -> dict[str, list[datetime]]:
    """Per household, when the recordings that jobs matching ``jobs_where`` are about were
    captured."""
    rows = session.execute(
        select(Recording.household_id, Recording.captured_at)
        .join(Job, Job.subject == Recording.id)
        .where(jobs_where)
    ).all()
    found: dict[str, list[datetime]] = {}
    for household_id, captured_at in rows:
        found.setdefault(household_id, []).append(as_utc(captured_at))
    return found


def _waiting_for(session: Session, answer: Recording) -> Job | None:
    """The household's newest asked deletion that ``answer`` was captured in time for (locked)."""
    return session.scalars(
        select(Job)
        .join(Recording, Recording.id == Job.subject)
        .where(
            Job.state == AWAITING,
            Job.kind.in_(JOB_KINDS.values()),
            Recording.household_id == answer.household_id,
            Recording.captured_at < answer.captured_at,
            Job.run_after >= answer.captured_at,
        )
        .order_by(Recording.captured_at.desc())
        .limit(1)
        .with_for_update()
    ).first()


def reask(platform: Platform, unclear: Recording) -> str | None:
    """Ask once more about the newest asked deletion ``unclear`` answered in time: its deadline
    becomes ``voice_delete_confirm_s`` after ``unclear``. A deletion is asked again at most once.

    Returns the asked command's recording id (None: nothing waiting, or already asked again)."""
    with transaction(platform.sessions) as session:
        return act_on_reply(platform, session, unclear, reply_to(session, unclear, "unclear"))


def _reask(platform: Platform, session: Session, unclear: Recording, job: Job | None) -> str | None:
    if job is None:
        return None
    again = session.scalars(
        select(audit.AuditEvent.seq).where(
            audit.AuditEvent.action == REASKED,
            audit.AuditEvent.subject == job.subject,
        )
    ).first()
    if again is not None:
        return None
    window_s = platform.settings.voice_delete_confirm_s
    details = {"answer": unclear.id, "confirm_s": window_s}
    because = Because(unclear.device_id, REASKED, unclear.household_id, None, details)
    jobs.queue_audited(
        session,
        because,
        job.subject,
        job=job,
        state=AWAITING,
        run_after=unclear.captured_at + timedelta(seconds=window_s),
        now=unclear.captured_at,
        audited_at=utcnow(),
    )
    return job.subject


def decline(platform: Platform, no: Recording, *, now: datetime | None = None) -> str | None:
    """Drop for good the household's newest asked deletion that ``no`` was captured in time for: its
    job is cancelled in the same transaction as the ``voice_delete.declined`` event (actor: the
    device that heard the no), so a later yes finds nothing waiting. Failing that, the newest
    deletion a yes already confirmed is cancelled the same way (details: ``after_yes``), when ``no``
    was captured after its command and before its undo period ended, and it has not started: a yes
    captured after the no but processed first (several workers), or a no said after the yes, while
    the deletion can still be undone.

    A no that finds nothing to cancel, but a confirmed deletion of the household that has started
    or finished, was due no earlier than the no's capture and whose yes was processed at most
    ``voice_delete_confirm_s`` after it, is audited ``voice_delete.too_late`` (nothing undone), so
    the device can say so.

    Returns the declined command's recording id (None: nothing was waiting)."""
    with transaction(platform.sessions) as session:
        return act_on_reply(platform, session, no, reply_to(session, no, "no"), now=now)


def _decline(
    platform: Platform, session: Session, no: Recording, reply: Reply, when: datetime
) -> str | None:
    job, yes = reply.job, reply.after_yes
    if job is None:
        _record_too_late(platform, session, no, when)
        return None
    job.state, job.updated_at = CANCELLED, when
    details = {"answer": no.id} if yes is None else {"answer": no.id, "after_yes": yes}
    audit.append(
        session,
        actor=no.device_id,
        action=DECLINED,
        subject=job.subject,
        household_id=no.household_id,
        reason=COMMANDS[job.kind],
        details=details,
        now=when,
    )
    return job.subject


def _confirmed_undoable(session: Session, no: Recording) -> tuple[Job | None, str | None]:
    """The household's newest asked deletion that a yes confirmed, whose command came before ``no``,
    whose undo period had not ended when ``no`` was captured and which no worker has started
    (queued, or claimed but not yet ``voice_delete.started``; locked); with the yes's recording id."""
    confirmed = session.execute(
        select(Job, audit.AuditEvent.details)
        .join(Recording, Recording.id == Job.subject)
        .join(audit.AuditEvent, audit.AuditEvent.subject == Job.subject)
        .where(
            Job.state.in_((JobState.QUEUED.value, JobState.RUNNING.value)),
            Job.kind.in_(JOB_KINDS.values()),
            Job.run_after >= no.captured_at,
            Recording.household_id == no.household_id,
            Recording.captured_at < no.captured_at,
            audit.AuditEvent.action == CONFIRMED,
        )
        .order_by(Recording.captured_at.desc())
        .limit(1)
        .with_for_update(of=Job)
    ).first()
    # Read after the lock: a worker that started the deletion audited it holding the same lock.
    if confirmed is None or _started(session, confirmed[0].subject):
        return None, None
    job, details = confirmed
    return job, str(details.get("answer"))


def _started(session: Session, command_id: str) -> bool:
    """Whether a worker has begun carrying out the confirmed deletion of ``command_id``."""
    return session.scalars(
        select(audit.AuditEvent.seq).where(
            audit.AuditEvent.action == STARTED, audit.AuditEvent.subject == command_id
        )
    ).first() is not None


def _record_too_late(platform: Platform, session: Session, no: Recording, when: datetime) -> None:
    """Audit a no that came after its confirmed deletion had started or finished, if one did."""
    late = _too_late_for(session, no, platform.settings.voice_delete_confirm_s)
    if late is None:
        return
    subject, command = late
    audit.append(
        session,
        actor=no.device_id,
        action=TOO_LATE,
        subject=subject,
        household_id=no.household_id,
        reason=command,
        details={"answer": no.id},
        now=when,
    )


def _too_late_for(session: Session, no: Recording, window_s: float) -> tuple[str, str] | None:
    """(command's recording id, command) of the household's newest confirmed deletion whose yes was
    processed at most ``window_s`` after ``no`` was captured, that was due no earlier than that
    capture, and whose job has started, finished or is gone with what it deleted."""
    captured = as_utc(no.captured_at)
    confirmed = session.execute(
        select(audit.AuditEvent.subject, audit.AuditEvent.at, audit.AuditEvent.details)
        .where(
            audit.AuditEvent.action == CONFIRMED,
            audit.AuditEvent.household_id == no.household_id,
            audit.AuditEvent.at >= no.captured_at - timedelta(seconds=window_s),
        )
        .order_by(audit.AuditEvent.seq.desc())
    ).all()
    for subject, at, details in confirmed:
        if as_utc(at) + timedelta(seconds=float(details.get("undo_s", 0.0))) < captured:
            continue  # due before the no was said
        state = session.scalars(
            select(Job.state).where(Job.subject == subject, Job.kind.in_(JOB_KINDS.values()))
        ).first()
        if state not in (None, JobState.RUNNING.value, JobState.DONE.value):
            continue  # cancelled (or still to be cancelled): not too late
        command = session.scalars(
            select(audit.AuditEvent.reason).where(
                audit.AuditEvent.action == ASKED, audit.AuditEvent.subject == subject
            )
        ).first()
        if command in JOB_KINDS:
            return str(subject), str(command)
    return None


def answer(platform: Platform, yes: Recording, *, now: datetime | None = None) -> str | None:
    """Confirm the household's newest asked deletion that ``yes`` was captured in time for.

    Returns the confirmed command's recording id (None: nothing was waiting). The deletion is then
    scheduled with its undo period like any other.
    """
    with transaction(platform.sessions) as session:
        return act_on_reply(platform, session, yes, reply_to(session, yes, "yes"), now=now)


def _confirm(
    platform: Platform, session: Session, yes: Recording, job: Job | None, when: datetime
) -> str | None:
    if job is None:
        return None
    undo_s = platform.settings.voice_delete_undo_s
    details = {"answer": yes.id, "undo_s": undo_s}
    because = Because(yes.device_id, CONFIRMED, yes.household_id, None, details)
    jobs.queue_audited(
        session,
        because,
        job.subject,
        job=job,
        run_after=when + timedelta(seconds=undo_s),
        now=when,
    )
    return job.subject


@dataclass(frozen=True)
class Reply:
    """A spoken answer and the deletion it answers, locked by :func:`reply_to`."""

    said: str
    """``yes``, ``no`` or ``unclear``."""
    job: Job | None
    """The asked deletion it was captured in time for (for a no, else one a yes confirmed)."""
    after_yes: str | None = None
    """For a no that cancels a deletion a yes confirmed: that yes's recording id."""


def reply_to(session: Session, rec: Recording, said: str) -> Reply | None:
    """Find and lock the deletion ``rec`` answers with ``said`` (None: not an answer).

    Called before the transaction's first audit event (an append holds the audit lock to the
    commit; the job's lock is taken first everywhere else too), then :func:`act_on_reply` acts on
    it in the same transaction: the pipeline stores the answer's transcript, or its use of the
    answer window, and acts on it in one commit, so a worker killed in between loses no answer and
    its retry does not act twice."""
    if said not in ("yes", "no", "unclear"):
        return None
    job, after_yes = _waiting_for(session, rec), None
    if job is None and said == "no":
        job, after_yes = _confirmed_undoable(session, rec)
    return Reply(said, job, after_yes)


def act_on_reply(
    platform: Platform,
    session: Session,
    rec: Recording,
    reply: Reply | None,
    *,
    now: datetime | None = None,
) -> str | None:
    """Confirm (:func:`answer`), decline (:func:`decline`) or ask again about (:func:`reask`) the
    deletion :func:`reply_to` found for ``rec``; its command's recording id (None: nothing done)."""
    if reply is None:
        return None
    when = now or utcnow()
    if reply.said == "yes":
        return _confirm(platform, session, rec, reply.job, when)
    if reply.said == "no":
        return _decline(platform, session, rec, reply, when)
    return _reask(platform, session, rec, reply.job)


def carry_out(
    platform: Platform, command: str, recording_id: str, *, now: datetime | None = None
) -> Receipt | None:
    """Delete what ``command`` names; None when the command's recording is already gone."""
    with platform.sessions() as session:
        rec = session.get(Recording, recording_id)
    if rec is None:
        return None
    if command == "delete_last":
        return delete_last(platform, rec, window_s=platform.settings.voice_delete_window_s, now=now)
    return delete_today(platform, rec, now=now)


def pending(session: Session, household_id: str) -> list[PendingDeletion]:
    """The household's voice deletions still waiting, soonest first."""
    rows = session.execute(
        select(Job.id, Job.kind, Job.subject, Job.run_after)
        .join(Recording, Recording.id == Job.subject)
        .where(
            Job.kind.in_(COMMANDS),
            Job.state == JobState.QUEUED.value,
            Recording.household_id == household_id,
        )
        .order_by(Job.run_after)
    )
    return [PendingDeletion(j, COMMANDS[k], s, due) for j, k, s, due in rows]


def undo(platform: Platform, household_id: str, job_id: str, actor: str, now: datetime) -> str:
    """Cancel a pending voice deletion of the household; returns the command's recording id.

    404 for an unknown job or another household's; 409 once it has started or finished.
    """
    with transaction(platform.sessions) as session:
        job = session.get(Job, job_id)
        rec = session.get(Recording, job.subject) if job is not None else None
        if job is None or job.kind not in JOB_KINDS.values() or rec is None:
            raise NotFound("no such voice deletion", code="voice_deletion_not_found")
        if rec.household_id != household_id:
            raise NotFound("no such voice deletion", code="voice_deletion_not_found")
        cancelled = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
            .values(state=CANCELLED, updated_at=now)
        )
        if cancelled.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("that deletion has already been carried out", code="too_late")
        audit.append(
            session,
            actor=actor,
            action="voice_delete.undone",
            subject=rec.id,
            household_id=household_id,
            now=now,
        )
        return rec.id


def _clear_to_start(platform: Platform, command: str, command_id: str) -> bool:
    """Whether the worker holding the deletion of ``command_id`` may carry it out now.

    Only a deletion a yes confirmed is held back (a spoken no can cancel only those): False when
    a no cancelled it after the worker claimed it; :class:`~overheard.jobs.Later` while a clip
    the household captured after the command and by the deletion's due time (the yes aside) still
    waits for the pipeline; otherwise ``voice_delete.started`` is audited under the job's lock, in
    the same transaction as that check, and it may.
    """
    with transaction(platform.sessions) as session:
        job = session.scalars(
            select(Job)
            .where(Job.subject == command_id, Job.kind == JOB_KINDS[command])
            .order_by(Job.created_at.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        yes = session.scalars(
            select(audit.AuditEvent)
            .where(audit.AuditEvent.action == CONFIRMED, audit.AuditEvent.subject == command_id)
            .order_by(audit.AuditEvent.seq.desc())
        ).first()
        rec = session.get(Recording, command_id)
        if yes is None or rec is None or _started(session, command_id):
            return True
        if job is None or job.state != JobState.RUNNING.value:
            return False  # a no cancelled it while it was claimed
        due = as_utc(yes.at) + timedelta(seconds=float(yes.details.get("undo_s", 0.0)))
        unheard = _unheard(session, rec, due, str(yes.details.get("answer")))
        if unheard:
            raise Later(HEAR_FIRST_S, f"{unheard} earlier clip(s) of the household not yet heard")
        audit.append(
            session,
            actor=rec.device_id,
            action=STARTED,
            subject=command_id,
            household_id=rec.household_id,
            reason=command,
        )
        return True


def _unheard(session: Session, command: Recording, due: datetime, yes_id: str) -> int:
    """How many of the household's clips captured after ``command`` and by ``due`` (``yes_id``
    aside) the pipeline has still to process (its job queued or running)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Job)
            .join(Recording, Recording.id == Job.subject)
            .where(
                Job.kind == PROCESS_JOB,
                Job.state.in_(UNHEARD_STATES),
                Recording.household_id == command.household_id,
                Recording.captured_at > command.captured_at,
                Recording.captured_at <= due,
                Recording.id != yes_id,
            )
        )
        or 0
    )


def _runner(command: str):  # type: ignore[no-untyped-def]
    def run(platform: Platform, recording_id: str) -> None:
        if _clear_to_start(platform, command, recording_id):
            carry_out(platform, command, recording_id)

    return run


def register() -> None:
    """Register the voice-deletion job kinds."""
    for command, kind in JOB_KINDS.items():
        jobs.register(kind, _runner(command))
