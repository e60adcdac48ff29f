"""Every job kind Overheard runs, registered in one place, and the worker-side housekeeping."""

from __future__ import annotations

import logging
import threading

from .config import Settings
from .errors import safe_trace
from .jobs import Periodic

log = logging.getLogger(__name__)

def register_hooks() -> None:
    """Install the hooks a deletion, a consent change or a voice deletion runs (review tasks,
    exports, working copies, models, renditions): every process that can delete needs them, the
    web processes included, which load no job handler (nor the speech stack)."""
    from . import learn
    from .privacy import hooks as privacy_hooks
    from .protect import serving
    from .review import hooks as review_hooks

    review_hooks.register()
    privacy_hooks.register()
    learn.register()
    serving.register()


def register_all() -> None:
    """Register the handlers of every job kind, and the hooks."""
    from . import purges
    from .speech import pipeline

    purges.register()
    pipeline.register()
    register_hooks()


def startup_sweep(platform) -> None:  # type: ignore[no-untyped-def]
    """At start-up: erase the key shares no key row names (left by a process killed between a
    "delete everything" commit and the share's erasure), then remove orphan blobs (audio,
    disguised renditions) older than the configured grace."""
    from .db import utcnow
    from .protect._cache import sweep_orphans
    from .recordings.sweep import sweep_orphan_blobs, sweep_orphan_key_shares

    grace_s = platform.settings.orphan_blob_grace_s
    shares = sweep_orphan_key_shares(platform)
    if shares:
        log.info("erased %d orphan key shares", shares)
    removed = sweep_orphan_blobs(platform, grace_s=grace_s)
    removed += sweep_orphans(platform.sessions, platform.blobs, grace_s=grace_s, now=utcnow())
    if removed:
        log.info("removed %d orphan blobs", removed)


def retention_sweep(platform) -> None:  # type: ignore[no-untyped-def]
    """Delete what is past its retention, accidental audio past its own, a failed recording's
    audio past ``failed_audio_keep_s``, expired working copies,
    and every model version trained on a deleted recording; then retry pending purges and erase
    the key shares no key row names."""
    from . import purges
    from .customer.retention import sweep_retention
    from .db import utcnow
    from .learn.forget import forget_deleted
    from .learn.settings import LearnSettings
    from .learn.staging import sweep_dead_builds
    from .learn.working import expire
    from .recordings.sweep import sweep_orphan_key_shares

    now = utcnow()
    sweep_retention(
        platform,
        now,
        accidental_retention_s=platform.settings.accidental_retention_s,
        failed_audio_keep_s=platform.settings.failed_audio_keep_s,
    )
    expire(platform, now)
    sweep_dead_builds(LearnSettings.from_settings(platform.settings).models_dir)
    forget_deleted(platform, now)
    purges.run(platform)
    sweep_orphan_key_shares(platform, now=now)


def housekeeping(platform) -> Periodic:  # type: ignore[no-untyped-def]
    """The retention sweep on a timer of ``retention_sweep_every_s``."""
    return Periodic(
        "overheard-retention",
        platform.settings.retention_sweep_every_s,
        lambda: retention_sweep(platform),
    )


def reannounce_due(sessions, celery) -> int:  # type: ignore[no-untyped-def]
    """Send every due job (and every job whose lease expired) to the broker; how many were sent."""
    from .jobs import announce, due_job_ids

    with sessions() as session:
        due = due_job_ids(session)
    return sum(announce(celery, job_id) for job_id in due)


def reannounce_loop(settings: Settings) -> threading.Thread:
    """A daemon thread that re-announces due jobs to Celery (at-least-once despite lost messages).

    The jobs table is the outbox: an upload whose announcement failed (broker down), a job whose
    worker died (lease expired, no heartbeat) and a retry whose delayed message was lost are all
    found here within ``job_reannounce_every_s``.
    """
    from .celery_app import make_celery
    from .db import make_engine, make_sessionmaker

    celery = make_celery(settings.broker_url, timeout_s=settings.broker_timeout_s)
    sessions = make_sessionmaker(make_engine(settings.database_url))
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.job_reannounce_every_s):
            try:
                reannounce_due(sessions, celery)
            except Exception as exc:
                log.error("re-announcing due jobs failed\n%s", safe_trace(exc))

    thread = threading.Thread(target=loop, name="overheard-reannounce", daemon=True)
    thread.start()
    return thread
