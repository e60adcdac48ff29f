"""The Celery application used when ``broker_url`` is set: one task that runs a job by id."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from celery import Celery

if TYPE_CHECKING:
    from .config import Settings
    from .platform import Platform


_settings: list[Settings] = []


def configure(settings: Settings) -> None:
    """Settings for the platform the worker's tasks run on (set before the worker forks)."""
    _settings[:] = [settings]


@cache
def _platform() -> Platform:
    from .config import load_settings
    from .platform import Platform
    from .tasks import register_all

    register_all()
    return Platform.open(_settings[0] if _settings else load_settings())


def make_celery(broker_url: str, *, timeout_s: float | None = None) -> Celery:
    """A Celery app on ``broker_url`` with late acks, so a killed worker's job is delivered again.

    With ``timeout_s`` (processes that only publish), each broker call is bounded and a failed
    publish is not retried: the jobs table is the outbox, and a job whose announcement fails is
    re-announced by the worker's scan.
    """
    app = Celery("overheard", broker=broker_url)
    if timeout_s is not None:
        app.conf.update(
            broker_transport_options={
                "socket_timeout": timeout_s,
                "socket_connect_timeout": timeout_s,
            },
            broker_connection_timeout=timeout_s,
            task_publish_retry=False,
        )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
    )

    @app.task(name="overheard.run_job")
    def run_job(job_id: str) -> None:
        from .jobs import claim, run_claimed

        platform = _platform()
        job = claim(platform.sessions, job_id=job_id, lease_s=platform.settings.job_lease_s)
        if job is not None:
            run_claimed(platform, job)

    return app
