"""Every job kind Overheard runs, registered in one place, and the worker-side housekeeping."""

from __future__ import annotations

import logging
import threading

from .config import Settings
from .jobs import Periodic

log = logging.getLogger(__name__)

REANNOUNCE_S = 15.0
"""How often a Celery worker re-sends due jobs whose messages may have been lost."""


def register_all() -> None:
    """Register the handlers of every job kind."""
    from . import learn
    from .protect import serving
    from .review import hooks as review_hooks
    from .speech import pipeline

    pipeline.register()
    review_hooks.register()
    learn.register()
    serving.register()


def startup_sweep(platform) -> None:  # type: ignore[no-untyped-def]
    """At start-up: remove orphan blobs older than the configured grace."""
    from .recordings.sweep import sweep_orphan_blobs

    removed = sweep_orphan_blobs(platform, grace_s=platform.settings.orphan_blob_grace_s)
    if removed:
        log.info("removed %d orphan blobs", removed)


def retention_sweep(platform) -> None:  # type: ignore[no-untyped-def]
    """Delete what is past its retention, and accidental audio past its own."""
    from .customer.retention import sweep_retention
    from .db import utcnow

    sweep_retention(
        platform, utcnow(), accidental_retention_s=platform.settings.accidental_retention_s
    )


def housekeeping(platform) -> Periodic:  # type: ignore[no-untyped-def]
    """The retention sweep on a timer of ``retention_sweep_every_s``."""
    return Periodic(
        "overheard-retention",
        platform.settings.retention_sweep_every_s,
        lambda: retention_sweep(platform),
    )


def reannounce_loop(settings: Settings) -> threading.Thread:
    """A daemon thread that re-announces due jobs to Celery (at-least-once despite lost messages)."""
    from .celery_app import make_celery
    from .db import make_engine, make_sessionmaker
    from .jobs import due_job_ids

    celery = make_celery(settings.broker_url)
    sessions = make_sessionmaker(make_engine(settings.database_url))
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(REANNOUNCE_S):
            try:
                with sessions() as session:
                    for job_id in due_job_ids(session):
                        celery.send_task("overheard.run_job", args=[job_id])
            except Exception:
                log.exception("re-announcing due jobs failed")

    thread = threading.Thread(target=loop, name="overheard-reannounce", daemon=True)
    thread.start()
    return thread
