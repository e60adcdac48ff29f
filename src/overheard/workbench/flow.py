"""The annotator's loop as plain functions over the platform: claim, heartbeat, skip, submit.

Both the pages and the JSON API call these; each is one transaction around one review service.
Annotators are known here, as everywhere in review, only by their pseudonym.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import transaction
from ..errors import BadRequest, Conflict, OverheardError
from ..platform import Platform
from ..protect import serving
from ..protect.serving import StaffText
from ..review import annotations, queue
from ..review.content import MAX_INTENT_CHARS, AnnotationInput
from ..review.models import ReviewTask
from ..review.policy import Draw, Flag, ReviewPolicy
from ..review.undo import undo_submit
from ..speech import catalogue

MAX_PLAYBACK_RATE = 2.0
"""Fastest speed the player offers; a full listen takes at least duration / this."""
PLAYBACK_RATES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
"""Speeds the player steps through."""
NO_INTENT = "none"
"""The selector's choice for speech that asks for nothing (stored as no intent)."""
_INTENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SYSTEM_RNG = random.SystemRandom()


@dataclass(frozen=True)
class Options:
    """How the workbench behaves, from settings."""

    policy: ReviewPolicy
    require_full_listen: bool
    """Refuse a submission before the clip could have been heard once at the fastest speed."""

    @classmethod
    def of(cls, platform: Platform) -> Options:
        """Options from the platform's settings (``review_require_full_listen``, default off)."""
        settings = platform.settings
        full = bool(getattr(settings, "review_require_full_listen", False))
        return cls(ReviewPolicy.from_settings(settings), full)


def intent_choices(platform: Platform) -> tuple[str, ...]:
    """The intents the selector offers: the catalogue (seed + the lead's additions), then ``none``."""
    return (*catalogue.intents(platform.settings), NO_INTENT)


def answer_from(
    transcript: str, intent: str, flags: list[str], comment: str = ""
) -> AnnotationInput:
    """An AnnotationInput from submitted fields; BadRequest for an unusable intent or flag."""
    label = intent.strip().lower()
    if label and (len(label) > MAX_INTENT_CHARS or not _INTENT_RE.match(label)):
        raise BadRequest("an intent is a lower-case label such as weather_query", code="bad_intent")
    known = {f.value for f in Flag}
    unknown = sorted(set(flags) - known)
    if unknown:
        raise BadRequest(f"unknown flags {unknown}", code="bad_flag")
    return AnnotationInput(
        transcript=transcript.strip(),
        intent=None if label in ("", NO_INTENT) else label,
        flags=frozenset(Flag(f) for f in flags),
        comment=comment.strip(),
    )


def claim(
    platform: Platform, pseudonym: str, now: datetime, rng: Draw | None = None
) -> queue.Lease | None:
    """The annotator's live lease, or a new one on the next task; None when nothing waits."""
    options = Options.of(platform)
    with transaction(platform.sessions) as session:
        return queue.claim(session, pseudonym, options.policy, rng=rng or _SYSTEM_RNG, now=now)


def claim_with_text(
    platform: Platform, pseudonym: str, now: datetime, rng: Draw | None = None
) -> tuple[queue.Lease, StaffText | None] | None:
    """``claim`` and the leased clip's texts (``serving.text_for_lease``) in one transaction; None
    when nothing waits.

    The texts are opened and audited exactly as a separate text request would; they are redacted
    after the commit. Should opening them fail with a refusal (a key gone, say), that transaction
    rolls back and the claim is made on its own: the lease comes without texts, the caller asks for
    them (and sees the refusal) as before, and may skip the task.
    """
    options = Options.of(platform)
    serve_policy = serving.ServingPolicy.from_settings(platform.settings)
    try:
        with transaction(platform.sessions) as session:
            draw = rng or _SYSTEM_RNG
            task = queue.claim_task(session, pseudonym, options.policy, rng=draw, now=now)
            if task is None:
                return None
            grant = serving.claimed_grant(task, pseudonym, serve_policy)
            opened, target = serving.open_text_in(session, platform, grant, now=now)
            audit.write_pending(session)  # the claim, the open and the view: one INSERT
            assert target.lease is not None
            lease = target.lease
    except OverheardError:
        lease = claim(platform, pseudonym, now, rng)
        return None if lease is None else (lease, None)
    return lease, opened.redacted()


def heartbeat(platform: Platform, pseudonym: str, lease_id: str, now: datetime) -> queue.Lease:
    """Extend the annotator's lease by the policy's ``lease_s``."""
    policy = Options.of(platform).policy
    with transaction(platform.sessions) as session:
        return queue.heartbeat(session, lease_id, pseudonym, policy, now=now)


def skip(platform: Platform, pseudonym: str, lease_id: str, reason: str, now: datetime) -> None:
    """Give the task back with ``reason``; it is never offered to this annotator again."""
    with transaction(platform.sessions) as session:
        queue.skip(session, lease_id, pseudonym, reason, now=now)


def undo(platform: Platform, pseudonym: str, annotation_id: str, now: datetime) -> queue.Lease:
    """Take back the annotator's last submission; the clip is theirs again under its lease."""
    policy = Options.of(platform).policy
    with transaction(platform.sessions) as session:
        return undo_submit(session, annotation_id, pseudonym, policy, now=now)


def submit(
    platform: Platform, pseudonym: str, lease_id: str, answer: AnnotationInput, now: datetime
) -> str:
    """Store the annotation for the leased task; the annotation id."""
    options = Options.of(platform)
    with transaction(platform.sessions) as session:
        if options.require_full_listen:
            _check_heard(session, lease_id, pseudonym, now)
        row = annotations.submit(
            session, platform.gate, lease_id, pseudonym, answer, options.policy, now=now
        )
        return row.id


@dataclass(frozen=True)
class Submitted:
    """An annotation stored, and the next task claimed after it (``submit_and_claim``)."""

    annotation_id: str
    following: tuple[queue.Lease, StaffText | None] | None
    """The next task as ``claim_with_text`` answers it; None when nothing waits or ``refused``."""
    refused: bool = False
    """The next claim was refused after the annotation was stored: claim again as usual."""


class _NextRefused(Exception):
    """The next claim or its text failed after the annotation: both are made again apart."""


def submit_and_claim(
    platform: Platform,
    pseudonym: str,
    lease_id: str,
    answer: AnnotationInput,
    now: datetime,
    rng: Draw | None = None,
) -> Submitted:
    """``submit``, then ``claim_with_text``, in one transaction: one commit, one audit chain head.

    Refused as ``submit`` refuses (nothing stored, nothing claimed). The same checks, row locks and
    audit events as the two made apart, in the same order in the chain (``review.submit``, then
    ``review.claim``, ``content.open``, ``text.view``), written by one INSERT; the annotator's claim
    lock is taken first and the audit chain's last, after every row lock of both, as each takes
    them alone. Should the claim or its text be refused, that transaction rolls back and the two
    are made apart as before, so the annotation is stored whatever the claim meets.
    """
    options = Options.of(platform)
    serve_policy = serving.ServingPolicy.from_settings(platform.settings)
    draw = rng or _SYSTEM_RNG
    try:
        with transaction(platform.sessions) as session:
            queue.serialise_annotator(session, pseudonym)
            if options.require_full_listen:
                _check_heard(session, lease_id, pseudonym, now)
            row, submitted = annotations.record_submit(
                session, platform.gate, lease_id, pseudonym, answer, options.policy, now=now
            )
            found = _next_task(session, pseudonym, options.policy, draw, now)
            audit.append_later(session, **submitted)  # the chain's lock: after every row lock
            if found is None:
                return Submitted(row.id, None)
            task, fresh = found
            if fresh:
                queue.audit_claim(session, pseudonym, task, now)
            grant = serving.claimed_grant(task, pseudonym, serve_policy)
            opened, target = _opened(session, platform, grant, now)
            audit.write_pending(session)  # submit, claim, open and view: one INSERT
            assert target.lease is not None
            lease = target.lease
    except _NextRefused:
        return _submit_then_claim(platform, pseudonym, lease_id, answer, now, rng)
    return Submitted(row.id, (lease, opened.redacted()))


def _next_task(
    session: Session, pseudonym: str, policy: ReviewPolicy, rng: Draw, now: datetime
) -> tuple[ReviewTask, bool] | None:
    try:
        return queue.take_task(session, pseudonym, policy, rng=rng, now=now)
    except OverheardError as exc:
        raise _NextRefused from exc


def _opened(
    session: Session, platform: Platform, grant: serving.Grant, now: datetime
) -> tuple[serving.OpenedText, serving.Target]:
    try:
        return serving.open_text_in(session, platform, grant, now=now)
    except OverheardError as exc:
        raise _NextRefused from exc


def _submit_then_claim(
    platform: Platform,
    pseudonym: str,
    lease_id: str,
    answer: AnnotationInput,
    now: datetime,
    rng: Draw | None,
) -> Submitted:
    done = submit(platform, pseudonym, lease_id, answer, now)
    try:
        return Submitted(done, claim_with_text(platform, pseudonym, now, rng))
    except OverheardError:
        return Submitted(done, None, refused=True)


def _check_heard(session: Session, lease_id: str, pseudonym: str, now: datetime) -> None:
    found = session.execute(
        select(ReviewTask.leased_at, ReviewTask.duration_s).where(
            ReviewTask.lease_id == lease_id, ReviewTask.leased_to == pseudonym
        )
    ).first()
    if found is None or found.leased_at is None:
        return  # the review service answers with LeaseExpired
    least_s = found.duration_s / MAX_PLAYBACK_RATE
    if (now - found.leased_at).total_seconds() < least_s:
        raise Conflict("listen to the whole clip before submitting", code="not_heard")
