"""Disguised renditions are made in jobs, never on a request.

The job that samples a clip for review queues ``review.disguise`` in the same transaction as the
task, then runs it itself right after committing (so the rendition is normally ready before anyone
claims the clip). The job opens the audio through the content gate, disguises it with one fresh
random draw, and stores the result sealed under the household key. It does nothing when a
rendition of the configured method's version exists, so at-least-once delivery is harmless, and
stores nothing for a clip deleted, flagged ``sensitive`` or whose household turned review off
(checked under locks in the storing transaction, see :func:`_still_wanted`), except that a
``sensitive`` clip an emergency report not yet closed names is made again for the privacy
officer's case (``docs/policies/emergency.md``; closing the report removes it). A
serve that finds no rendition (a crash between the two steps, a ``sensitive`` purge) queues the job
and answers 503 with ``Retry-After``; a serve that finds an older version serves it and queues the job.
"""

from __future__ import annotations

import logging
import secrets

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from .. import audit, blobs, jobs
from ..db import transaction
from ..errors import OverheardError
from ..platform import Platform
from ..recordings.models import Recording
from ..review.consent import has_consent_for, hold_consent_for
from ..review.flags import in_emergency, is_excluded
from ..review.sampler import DISGUISE_JOB
from . import _cache
from .disguise import DEFAULT_METHOD, METHOD_VERSIONS, disguise, draw

log = logging.getLogger(__name__)

ACTOR = "system:disguise"
PURPOSE = "review.disguise"
"""Purpose on the audit event of the content open that feeds the disguise."""
RETRY_AFTER_S = 2
"""Seconds a client is asked to wait while a missing rendition is made."""


class AudioPreparing(OverheardError):
    """The clip's disguised rendition is being made; try again shortly."""

    status = 503
    code = "audio_preparing"
    retry_after_s = RETRY_AFTER_S


def os_random() -> np.random.Generator:
    """A generator seeded from the operating system's CSPRNG (128 bits)."""
    return np.random.default_rng(secrets.randbits(128))


def disguise_pcm(pcm: bytes, rng: np.random.Generator, method: str = DEFAULT_METHOD) -> bytes:
    """PCM16 bytes disguised by ``method`` with a fresh draw of parameters from ``rng``."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
    return disguise(samples, draw(rng, method)).astype("<i2").tobytes()


def current_version(platform: Platform) -> int:
    """The rendition version the configured disguise method stores (an other one is re-made)."""
    return METHOD_VERSIONS[platform.settings.disguise_method]


def _needs_rendition(rec: Recording | None, version: int | None, wanted: int) -> bool:
    return rec is not None and rec.audio_blob is not None and version != wanted


def render(platform: Platform, recording_id: str, rng: np.random.Generator | None = None) -> bool:
    """Make the recording's rendition if it has none of the current version; True if one was made."""
    wanted = current_version(platform)
    with transaction(platform.sessions) as session:
        rec = session.get(Recording, recording_id)
        if rec is not None and not _wanted(session, rec):
            return False  # no audio opened for a clip that has left review
        if not _needs_rendition(rec, _cache.stored_version(session, recording_id), wanted):
            return False
        assert rec is not None
        pcm = platform.gate.open_audio(session, rec, actor=ACTOR, purpose=PURPOSE)
    fresh = disguise_pcm(pcm, rng or os_random(), platform.settings.disguise_method)
    tiles = _cache.measure(fresh)  # the watermark's id-free first step, done once here
    written: list[str] = []
    try:
        return _store(platform, recording_id, fresh, wanted, written, tiles)
    except BaseException:
        blobs.delete_quietly(platform.blobs, written)
        raise


def _store(
    platform: Platform,
    recording_id: str,
    fresh: bytes,
    wanted: int,
    written: list[str],
    tiles: NDArray[np.float64] | None = None,
) -> bool:
    """Store ``fresh`` unless, under the locks, the clip no longer wants it; ``written`` gets the
    blob key before the commit (the caller removes it if the commit fails)."""
    with transaction(platform.sessions) as session:
        rec = _still_wanted(session, recording_id)
        if not _needs_rendition(rec, _cache.stored_version(session, recording_id), wanted):
            return False
        assert rec is not None
        written.append(
            _cache.store(
                session, platform.gate, rec, fresh, method_version=wanted, first_tiles=tiles
            )
        )
        audit.append(
            session,
            actor=ACTOR,
            action="audio.disguise",
            subject=rec.id,
            household_id=rec.household_id,
            details={"method": platform.settings.disguise_method, "method_version": wanted},
        )
    return True


def _still_wanted(session: Session, recording_id: str) -> Recording | None:
    """The recording, locked, if it may still have a rendition: not deleted, its household's
    review on, and not flagged ``sensitive`` unless an emergency report not yet closed names it.

    The row is locked ``FOR UPDATE`` first, then the household ``FOR SHARE`` (the sampler's
    order): a deletion, a ``sensitive`` flag (``serving.on_sensitive`` holds the row ``FOR KEY
    SHARE``) or review turned off either committed before these reads, or waits for this commit
    and then removes what it stores; so does closing the report (held ``FOR SHARE`` here).
    """
    rec = session.get(Recording, recording_id, with_for_update=True)
    if rec is None or not hold_consent_for(session, rec):
        return None
    if is_excluded(session, recording_id) and not in_emergency(session, recording_id, lock=True):
        return None
    return rec


def _wanted(session: Session, rec: Recording) -> bool:
    """Unlocked: the household's review is on and the clip is not flagged ``sensitive``, or an
    emergency report not yet closed names it (an officer's case serves it)."""
    if not has_consent_for(session, rec):
        return False
    return not is_excluded(session, rec.id) or in_emergency(session, rec.id)


def run_job(platform: Platform, recording_id: str) -> None:
    """The job handler."""
    render(platform, recording_id)


def request(platform: Platform, recording_id: str) -> None:
    """Queue the rendition job for a recording (unless one is pending) and wake a worker."""
    with transaction(platform.sessions) as session:
        job_id = jobs.pending_id(session, DISGUISE_JOB, recording_id)
        if job_id is None:
            job_id = jobs.enqueue(session, DISGUISE_JOB, recording_id).id
    platform.jobs.notify(job_id)


def register() -> None:
    """Register the rendition job kind."""
    jobs.register(DISGUISE_JOB, run_job)
