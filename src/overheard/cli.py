"""The ``overheard`` command: thin wrappers that parse, call a service, print."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import audit
from .accounts.cli import users_app
from .auditlog.cli import audit_app
from .cli_support import AsJson, DataDir, PublicUrl, console, opened, remember_public_url
from .config import Settings, load_settings
from .db import transaction
from .device.cli import device_app
from .errors import OverheardError
from .learn.cli import evaluate_cmd, export_cmd, models_app, train_app
from .learn.intents_cli import intents_app
from .platform import Platform, initialise
from .protect.trace_cli import trace_cmd
from .unavailable import backend_unavailable

app = typer.Typer(
    help="Overheard: the human-review loop of a voice assistant, privacy enforced.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
households_app = typer.Typer(help="Customer households.", no_args_is_help=True)
devices_app = typer.Typer(help="Devices of households.", no_args_is_help=True)
keys_app = typer.Typer(help="Key-encryption key and data keys.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
app.add_typer(households_app, name="households")
app.add_typer(devices_app, name="devices")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users", help="Staff accounts.")
app.add_typer(device_app, name="device")
app.command("export")(export_cmd)
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.add_typer(intents_app, name="intents")
app.command("evaluate")(evaluate_cmd)
app.command("trace")(trace_cmd)


WEB_PROCESS_HEALTHCHECK_S = 60
"""Seconds a web process may take to answer the supervisor's health check before it is restarted."""
GRACEFUL_SHUTDOWN_S = 10
"""Seconds a stopping server waits for its open connections to finish: a client that keeps a
kept-alive connection busy (a device polling its deliveries) must not hold a stop off for ever."""


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings for a command, with ``--data-dir`` applied."""
    return load_settings(data_dir=data_dir, **overrides)


def emit(data: dict[str, Any], as_json: bool) -> None:
    """Print ``data`` as JSON or as aligned lines."""
    if as_json:
        typer.echo(json.dumps(data))
        return
    for key, value in data.items():
        console.print(f"{key:>14}: {value}")


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create the data directory, key file, secrets, schema, S3 bucket and first KEK version."""
    from .firstuse import ensure_bucket, ensure_key_version
    from .platform import open_blobs, open_kek

    settings = settings_for(data_dir)
    with clean_errors():
        initialise(settings)
        blobs = open_blobs(settings)
        try:
            if (bucket := ensure_bucket(blobs, settings)) is not None:
                console.print(f"created S3 bucket {bucket}")
        finally:
            blobs.close()
        kek = open_kek(settings)
        try:
            if (version := ensure_key_version(kek)) is not None:
                console.print(f"created key-encryption key version {version} ({kek.scheme})")
        finally:
            getattr(kek, "close", lambda: None)()
    console.print(f"initialised {settings.data_dir}")


@contextmanager
def clean_errors(status: int = 2) -> Iterator[None]:
    """Turn a deliberate error into its message on the console and an exit status, no traceback."""
    from .errors import ServiceUnavailable

    try:
        yield
    except OverheardError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(status) from None
    except Exception as exc:
        unavailable = backend_unavailable(exc)
        if unavailable is None:
            raise
        console.print(f"[red]error:[/red] {ServiceUnavailable.__name__}: {unavailable.message}")
        raise typer.Exit(status) from None


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    public_url: PublicUrl = None,
    web_processes: Annotated[
        int | None, typer.Option(help="Web processes (0 = one per CPU core).", min=0)
    ] = None,
) -> None:
    """Run the web server with in-process workers (or Celery, when a broker is configured)."""
    import uvicorn

    from .firstuse import check_ready
    from .tasks import register_all, startup_sweep
    from .web import create_app

    remember_public_url(data_dir, public_url)
    settings = settings_for(data_dir, host=host, port=port, web_processes=web_processes)
    with clean_errors():
        initialise(settings)
        register_all()
        platform = Platform.open(settings)
        check_ready(platform.blobs, platform.keyring.kek)
        finish_stopped_restore(platform)
        startup_sweep(platform)
    from .observe import configure_logging

    configure_logging(settings.log_format)
    count = settings.web_process_count
    url = settings.base_url
    console.print(f"Overheard is running ({count} web processes): open {url}/")
    if count == 1:
        # Our middleware writes the access log (route templates, request ids); uvicorn's would
        # print raw paths, which can hold one-time tokens.
        uvicorn.run(
            create_app(platform),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the app decides whom to trust (forwarded_allow_ips)
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        return
    serve_processes(platform, count)


def serve_processes(platform: Platform, count: int) -> None:
    """``count`` web processes on one socket; the job workers and the timers run here, once."""
    import os

    import uvicorn

    from .jobs import WAKE_ENV, InProcessBackend, wake_address
    from .tasks import housekeeping
    from .web import SERVE_PID_ENV

    settings = platform.settings
    # The web processes are spawned: they read these from the environment they inherit.
    os.environ.update(
        OVERHEARD_DATA_DIR=str(settings.data_dir),
        OVERHEARD_HOST=settings.host,
        OVERHEARD_PORT=str(settings.port),
        OVERHEARD_DATABASE_URL=settings.database_url,
    )
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # each web process stops when this one is gone
    # The password-check bound is the server's: shared out among the web processes (one at least).
    share = settings.login_checks_per_web_process(count)
    os.environ["OVERHEARD_LOGIN_MAX_CONCURRENT_CHECKS"] = str(share)
    if isinstance(platform.jobs, InProcessBackend):
        # The job workers (and the models they load) live here, once; the web processes wake them.
        platform.jobs.listen = wake_address()
        os.environ[WAKE_ENV] = platform.jobs.listen
    platform.checkpointer.start()
    platform.jobs.start()
    timers = [] if settings.broker_url else [housekeeping(platform)]
    for timer in timers:
        timer.start()
    try:
        uvicorn.run(
            "overheard.web:web_process_app",
            factory=True,
            workers=count,
            # A process still importing the speech stack under load must not count as hung.
            timeout_worker_healthcheck=WEB_PROCESS_HEALTHCHECK_S,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
        )
    finally:
        for timer in timers:
            timer.stop()
        platform.checkpointer.stop()
        platform.close()


@app.command()
def worker(
    data_dir: DataDir = None,
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run a Celery worker for the configured broker (``OVERHEARD_BROKER_URL``)."""
    from .celery_app import configure, make_celery
    from .tasks import housekeeping, reannounce_loop, register_all

    settings = settings_for(data_dir)
    if not settings.broker_url:
        console.print("[red]error:[/red] set OVERHEARD_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
        raise typer.Exit(2)
    from .firstuse import check_ready

    register_all()
    configure(settings)
    with clean_errors():
        platform = Platform.open(settings)
        check_ready(platform.blobs, platform.keyring.kek)
        finish_stopped_restore(platform)
    reannounce_loop(settings)
    # Housekeeping runs in this (parent) process on a platform of its own; pool children open theirs.
    housekeeping(platform).start()
    from .observe import configure_logging

    configure_logging(settings.log_format)
    celery = make_celery(settings.broker_url)
    celery.conf.worker_hijack_root_logger = False
    celery.worker_main(
        ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork"]
    )


@app.command()
def deploy(
    data_dir: DataDir = None,
    web: Annotated[int, typer.Option(help="Web processes (`serve`), on consecutive ports.")] = 2,
    workers: Annotated[int, typer.Option(help="Job workers (needs a broker).")] = 2,
    base_port: Annotated[
        int | None, typer.Option(help="Port of the first web process (default: OVERHEARD_PORT).")
    ] = None,
    procfile: Annotated[
        bool, typer.Option("--procfile", help="Print a Procfile instead of running.")
    ] = False,
) -> None:
    """Run N web processes and M workers under one supervisor (after `init`)."""
    import os

    from . import deploy as deployment
    from .metrics import prepare_multiprocess_dir

    settings = settings_for(data_dir)
    with clean_errors():
        processes = deployment.plan(
            settings, web=web, workers=workers, base_port=base_port or settings.port
        )
    if procfile:
        typer.echo(deployment.procfile(processes), nl=False)
        return
    init(data_dir)
    prepare_multiprocess_dir(deployment.metrics_dir(settings))
    env = deployment.child_env(settings, dict(os.environ))
    raise typer.Exit(deployment.run(processes, env))


@app.command()
def backup(
    out: Annotated[Path, typer.Argument(help="New directory to write the backup into.")],
    data_dir: DataDir = None,
) -> None:
    """Back up every row and sealed blob (never the KEK, secrets or household key shares)."""
    from .backup import write_backup

    with opened(data_dir) as platform:
        counts = write_backup(platform, out)
    rows = sum(v for k, v in counts.items() if k != "blobs")
    console.print(f"backed up {rows} rows and {counts['blobs']} blobs to {out}")


def finish_stopped_restore(platform: Platform) -> None:
    """Before serving or working: finish a restore that stopped after its rows were stored (its
    shredded households shut, later deletions re-applied; ``backup.finish_restore``)."""
    from .backup import finish_restore

    report = finish_restore(platform)
    if report is not None:
        console.print("finished a restore that had stopped after its rows were stored")
        if report.warning:
            console.print(f"[bold yellow]warning:[/] {report.warning}")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A directory written by `overheard backup`.")],
    data_dir: DataDir = None,
    allow_missing_blobs: Annotated[
        bool,
        typer.Option(
            "--allow-missing-blobs",
            help="Restore a backup folder missing blobs its rows name: a recording whose audio is "
            "missing is restored without it (as if purged), a missing disguised copy is left out; "
            "audited and printed.",
        ),
    ] = False,
) -> None:
    """Restore a backup into an empty deployment; households shredded since stay unreadable. Run
    again after a restore that stopped half-way, it finishes that one."""
    from .backup import restore_backup

    settings = settings_for(data_dir)
    with clean_errors():
        initialise(settings)
    with opened(data_dir) as platform:
        report = restore_backup(platform, source, allow_missing_blobs=allow_missing_blobs)
    if report.resumed:
        console.print("finished a restore that had stopped after its rows were stored")
    console.print(f"restored {report.rows} rows and {report.blobs} blobs")
    if report.missing:
        console.print(f"[bold yellow]warning:[/] {report.missing}")
    if report.reapplied:
        console.print(f"deleted again {report.reapplied} recordings from the deletion journal")
    for household in report.shredded_households:
        console.print(f"household {household}: deleted after the backup; its content stays shredded")
    if report.warning:
        console.print(f"[bold yellow]warning:[/] {report.warning}")


@households_app.command("add")
def households_add(
    name: Annotated[str, typer.Option(help="The account holder's first name.")],
    account: Annotated[str, typer.Option(help="Customer account number.")],
    email: Annotated[str, typer.Option(help="Login e-mail address.")],
    serial: Annotated[str, typer.Option(help="Serial of the first device.")] = "DEMO-0001",
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Enrol a household with one device; prints the device token and the owner's invitation once."""
    from .accounts.service import invite_customer
    from .identity.service import enrol_household

    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        done = enrol_household(
            session,
            platform.keyring,
            platform.secrets,
            name=name,
            account=account,
            email=email,
            serial=serial,
        )
        invitation = invite_customer(session, done.household_id)
        base = platform.settings.base_url
    emit(
        {
            "household_id": done.household_id,
            "device_id": done.device_id,
            "device_token": done.device_token,
            "invite_url": f"{base}/invite/{invitation}",
        },
        as_json,
    )


@devices_app.command("add")
def devices_add(
    household: Annotated[str, typer.Option(help="Household pseudonym.")],
    serial: Annotated[str, typer.Option(help="Device serial number.")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Add a device to a household; prints its token once."""
    from .identity.service import enrol_device

    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        device, token = enrol_device(session, platform.keyring, household, serial=serial)
    emit({"device_id": device.id, "household_id": household, "device_token": token}, as_json)


@devices_app.command("revoke")
def devices_revoke(device_id: str, data_dir: DataDir = None) -> None:
    """Revoke a device's token."""
    from .households import revoke_device

    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        device = revoke_device(session, device_id)
        audit.append(
            session,
            actor="cli",
            action="device.revoke",
            subject=device.id,
            household_id=device.household_id,
        )
    console.print(f"revoked {device_id}")


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """New KEK version; every household data key re-wrapped under it (blobs untouched)."""
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        version, count = platform.keyring.rotate(session)
        audit.append(
            session,
            actor="cli",
            action="keys.rotate",
            subject=version,
            details={"rewrapped": count},
        )
    console.print(f"KEK version {version}; re-wrapped {count} data keys")


@jobs_app.command("failed")
def jobs_failed(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Jobs that gave up, with their reasons."""
    from .jobs import failed_jobs

    with opened(data_dir) as platform, platform.sessions() as session:
        rows = [
            {
                "id": j.id,
                "kind": j.kind,
                "subject": j.subject,
                "attempts": j.attempts,
                "error": (j.last_error or "").splitlines()[0] if j.last_error else "",
            }
            for j in failed_jobs(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "kind", "subject", "attempts", "error")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: str, data_dir: DataDir = None) -> None:
    """Queue a failed job again."""
    from .jobs import retry

    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        job = retry(session, job_id)
        audit.append(session, actor="cli", action="job.retry", subject=job.id)
    console.print(f"queued {job_id} again")


@app.command()
def sweep(
    data_dir: DataDir = None,
    grace_s: Annotated[float | None, typer.Option(help="Minimum age of an orphan blob.")] = None,
) -> None:
    """Finish pending purges, then remove blobs no row refers to (left by a crash)."""
    from . import purges
    from .recordings.sweep import sweep_orphan_blobs
    from .tasks import register_all

    register_all()
    with opened(data_dir) as platform:
        left = purges.run(platform)
        grace = platform.settings.orphan_blob_grace_s if grace_s is None else grace_s
        removed = sweep_orphan_blobs(platform, grace_s=grace)
    console.print(f"removed {removed} orphan blobs; {left} purges still pending")


def main() -> None:
    """Entry point."""
    app()


@app.command()
def demo(data_dir: DataDir = None, public_url: PublicUrl = None) -> None:
    """Seed the demo households and their clips (once; later runs do nothing)."""
    from .demo import seed, write_demo_settings

    remember_public_url(data_dir, public_url)
    write_demo_settings(load_settings(data_dir=data_dir).data_dir)
    with opened(data_dir) as platform:
        summary = seed(platform)
    for hh in summary["households"]:  # type: ignore[union-attr]
        typer.echo(f"demo household {hh['name']:<6} {hh['household_id']}  {hh['clips']} clips")
        typer.echo(f"   owner ({hh['email']}) sets a password at {hh['invite_url']}")
    for member in summary.get("staff", []):  # type: ignore[union-attr]
        typer.echo(
            f"demo {member['role']:<10} {member['pseudonym']} enrols (password + TOTP) at "
            f"{member['enrol_url']}"
        )
    reviews = summary.get("reviews") or {}
    if reviews:
        typer.echo(
            f"demo reviewers reviewed {reviews['reviewed']} clips; {reviews['disagreements']} "  # type: ignore[index]
            f"disagreement waits for adjudication and {reviews['gold']} gold item is set "  # type: ignore[index]
            "(see /review/lead as the demo lead)"
        )
    typer.echo(f"(also in {platform.settings.data_dir / 'demo.json'}; links work once)")


@app.command()
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Audio files to transcribe.", exists=True)],
    asr: Annotated[str | None, typer.Option(help="ASR backend spec.")] = None,
    wake_gate: Annotated[
        bool,
        typer.Option(
            "--wake-gate/--no-wake-gate",
            help="Require the wake word (default); --no-wake-gate transcribes plain speech.",
        ),
    ] = True,
    answering: Annotated[
        str | None,
        typer.Option(
            help="Take each file as the answer to the question about this deletion "
            "(delete_last or delete_today): `say` then shows the question asked once more "
            "after an unclear answer, or that nothing was deleted after a no.",
        ),
    ] = None,
) -> None:
    """Run the speech pipeline on files (no server needed); one JSON line per file.

    Each line: file, status, text, words (text, start_s, end_s, confidence), confidence, intent,
    answer (yes, no, unclear or other, for a clip that is no deletion request) and say (what the
    device would say next, if anything).
    """
    from rich.progress import track

    from .speech.audio import read_audio_file
    from .speech.nlu import PRIVACY_INTENTS
    from .speech.pipeline import analyse, stack_from_settings

    if answering not in (None, *PRIVACY_INTENTS):
        raise typer.BadParameter(f"use one of {PRIVACY_INTENTS}", param_hint="--answering")
    stack = stack_from_settings(load_settings(asr=asr))
    err = Console(stderr=True)
    for path in track(files, description="transcribing", console=err):
        try:
            outcome = analyse(stack, read_audio_file(path).pcm, wake_gate=wake_gate)
        except OverheardError as exc:
            typer.echo(json.dumps({"file": str(path), "error": exc.code, "message": exc.message}))
            continue
        typer.echo(json.dumps({"file": str(path), **outcome.summary(answering)}))  # type: ignore[arg-type]


@app.command()
def wyoming(
    uri: Annotated[str, typer.Option(help="Where to listen, e.g. tcp://127.0.0.1:10300.")] = (
        "tcp://127.0.0.1:10300"
    ),
    device: Annotated[
        str | None, typer.Option(help="Device pseudonym to store recordings under.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the Wyoming speech-to-text protocol (for a Home Assistant voice pipeline)."""
    import asyncio

    from .households import Device
    from .tasks import register_all
    from .wyoming_asr import serve_wyoming

    register_all()
    with opened(data_dir) as platform:
        device_id = device or platform.settings.wyoming_device
        with platform.sessions() as session:
            found = session.get(Device, device_id) if device_id else None
        if found is None or found.revoked_at is not None:
            console.print(
                "[red]error:[/red] give --device (or OVERHEARD_WYOMING_DEVICE): an active device"
            )
            raise typer.Exit(2)
        if not platform.settings.broker_url:
            platform.start_background()
        console.print(f"Wyoming speech-to-text on {uri}, storing as device {found.id}")
        asyncio.run(serve_wyoming(platform, found, uri))
