"""Commands of the learning loop: ``export``, ``train asr|nlu``, ``models list|approve|retire``, ``evaluate``.

Mounted by ``overheard.cli``: ``app.command("export")(export_cmd)``, ``app.add_typer(train_app,
name="train")``, ``app.add_typer(models_app, name="models")``, ``app.command("evaluate")(evaluate_cmd)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..cli_support import DataDir
from ..config import load_settings
from ..db import transaction
from ..errors import OverheardError
from ..platform import Platform
from .heldout import HELDOUT_VOICES
from .models import ModelVersion
from .settings import LearnSettings

train_app = typer.Typer(
    help="Train speech and intent models from reviewed data.", no_args_is_help=True
)
models_app = typer.Typer(
    help="Model versions: list, approve (a lead), retire.", no_args_is_help=True
)
console = Console()
Actor = Annotated[
    str, typer.Option("--actor", help="Who runs this (a staff pseudonym such as R-xxxx).")
]


@contextmanager
def _opened(data_dir: Path | None) -> Iterator[tuple[Platform, LearnSettings]]:
    platform = None
    try:
        settings = load_settings(data_dir=data_dir)
        platform = Platform.open(settings)
        from . import register

        register()
        yield platform, LearnSettings.from_settings(settings)
    except OverheardError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        if platform is not None:
            platform.close()


def export_cmd(
    out: Annotated[
        Path | None, typer.Option(help="Export folder (default: data_dir/exports/<id>).")
    ] = None,
    split: Annotated[str, typer.Option(help="train, heldout or all.")] = "train",
    formats: Annotated[
        list[str] | None, typer.Option("--format", help="hf, nemo, kaldi, labelstudio (repeat).")
    ] = None,
    plaintext: Annotated[
        bool, typer.Option(help="Plaintext audio and layouts (privacy officer only).")
    ] = False,
    for_training: Annotated[
        Path | None, typer.Option(help="Open this sealed export for a training run.")
    ] = None,
    into: Annotated[
        Path | None, typer.Option(help="Training run folder for --for-training.")
    ] = None,
    actor: Actor = "cli",
    data_dir: DataDir = None,
) -> None:
    """Export reviewed data: sealed per-household shards (default), opened for training, or plaintext."""
    from .export import ALL_FORMATS, export_plaintext, export_sealed, open_for_training

    chosen = tuple(formats or ALL_FORMATS)
    with _opened(data_dir) as (platform, learn):
        if for_training is not None:
            if into is None:
                console.print("[red]error:[/red] --for-training needs --into RUN_DIR")
                raise typer.Exit(2)
            summary = open_for_training(platform, for_training, into, formats=chosen, actor=actor)
        elif plaintext:
            target = out or learn.exports_dir / "plaintext"
            staff_id = _proven_staff(platform, actor, "learn.export_refused")
            summary = export_plaintext(
                platform,
                target,
                staff_id=staff_id,
                formats=chosen,
                split=split,
                heldout_percent=learn.heldout_percent,
            )
        else:
            target = out or learn.exports_dir / "sealed"
            summary = export_sealed(
                platform, target, split=split, actor=actor, heldout_percent=learn.heldout_percent
            )
    console.print(
        f"{summary.export_id} ({summary.dataset_version}): {summary.clips} clips -> {summary.location}"
    )
    if summary.skipped:
        console.print(f"left out: {summary.skipped}")


def _train(
    kind: str,
    exclude_deleted: bool,
    seed: bool,
    actor: str,
    data_dir: Path | None,
    *,
    examples: Path | None = None,
    embeddings: bool | None = None,
) -> None:
    from ..speech.catalogue import read_labelled
    from .train_asr import train_asr
    from .train_nlu import train_nlu
    from .training import TrainOptions

    extra = tuple(read_labelled(examples)) if examples is not None else ()

    with _opened(data_dir) as (platform, learn):
        options = TrainOptions(
            models_dir=learn.models_dir,
            actor=actor,
            heldout_percent=learn.heldout_percent,
            include_seed=seed,
            exclude_deleted=exclude_deleted,
            retire_on_retrain=learn.retire_on_retrain,
            extra_examples=extra,
            embeddings=embeddings,
        )
        result = (train_asr if kind == "asr" else train_nlu)(platform, options)
    console.print(
        f"{result.version_id}: trained on {result.trained_on} reviewed clips -> {result.path}"
    )
    console.print(f"  {json.dumps(result.stats)}")
    if result.retired:
        console.print(f"  retired: {', '.join(result.retired)}")
    console.print(
        "  a candidate until a lead approves it: overheard models approve " + result.version_id
    )


ExcludeDeleted = Annotated[
    bool,
    typer.Option(
        "--exclude-deleted", help="Retrain because clips were deleted; supersede affected versions."
    ),
]
Seed = Annotated[
    bool, typer.Option("--seed/--no-seed", help="Also train on the project's seed requests.")
]


@train_app.command("asr")
def train_asr_cmd(
    exclude_deleted: ExcludeDeleted = False,
    seed: Seed = True,
    actor: Actor = "cli",
    data_dir: DataDir = None,
) -> None:
    """A domain language model + dictionary from reviewed transcripts (a new candidate version)."""
    _train("asr", exclude_deleted, seed, actor, data_dir)


@train_app.command("nlu")
def train_nlu_cmd(
    exclude_deleted: ExcludeDeleted = False,
    seed: Seed = True,
    actor: Actor = "cli",
    data_dir: DataDir = None,
    examples: Annotated[
        Path | None,
        typer.Option(help="Also learn a labelled file: .csv (text,intent), .jsonl or .tsv."),
    ] = None,
    embeddings: Annotated[
        bool | None,
        typer.Option(
            "--embeddings/--no-embeddings",
            help="Add the all-MiniLM-L6-v2 sentence-embedding classifier (docs/models/nlu.md); "
            "by default whenever its package is installed.",
        ),
    ] = None,
) -> None:
    """An intent model from reviewed intents, the intent catalogue and an optional labelled file."""
    _train("nlu", exclude_deleted, seed, actor, data_dir, examples=examples, embeddings=embeddings)


@models_app.command("list")
def models_list(data_dir: DataDir = None) -> None:
    """Every model version with its state and lineage: clips, their digest, deleted since, files."""
    from .registry import deleted_in_lineage, list_versions

    with _opened(data_dir) as (platform, _), platform.sessions() as session:
        for v in list_versions(session):
            console.print(_version_line(v, len(deleted_in_lineage(session, v.id))), soft_wrap=True)


def _version_line(v: ModelVersion, deleted: int) -> str:
    state = f"{v.state} ({v.retired_because})" if v.retired_because else v.state
    files = f"destroyed {v.destroyed_at:%Y-%m-%d %H:%M}" if v.destroyed_at else str(v.path)
    return (
        f"{v.id}  {state}  trained on {v.trained_on} clips (lineage {v.lineage_sha256[:12]}), "
        f"{deleted} deleted since; approved by {v.approved_by or '-'}; "
        f"supersedes {v.supersedes or '-'}; files: {files}"
    )


@models_app.command("approve")
def models_approve(version: str, actor: Actor, data_dir: DataDir = None) -> None:
    """Approve a candidate version as a lead: asks for the lead's password and authenticator code."""
    from .approval import approve

    with _opened(data_dir) as (platform, _):
        staff_id = _proven_staff(platform, actor, "learn.approve_refused")
        with transaction(platform.sessions) as session:
            approve(session, version, staff_id)
    console.print(f"approved {version}")


def _proven_staff(platform: Platform, actor: str, refused: str) -> str:
    """The staff id of ``actor`` once they prove it (password and authenticator code, asked here);
    exit 1 otherwise, with the refusal audited as ``refused``: an action done in a person's name
    needs that person's credentials, not only their pseudonym."""
    password = typer.prompt(f"Password of {actor}", hide_input=True)
    code = typer.prompt("Authenticator code")
    staff_id = _proven(platform, actor, password, code, refused)
    if staff_id is None:
        console.print("[red]error:[/red] wrong password or authenticator code")
        raise typer.Exit(1)
    return staff_id


def _proven(platform: Platform, actor: str, password: str, code: str, refused: str) -> str | None:
    """Check the credentials in a transaction of its own, so failures count even when refused."""
    from .. import audit
    from ..accounts.secrets import AccountKeys
    from ..accounts.settings import AccountSettings
    from .approval import verify_staff

    staff_id = verify_staff(
        platform,
        pseudonym=actor,
        password=password,
        code=code,
        keys=AccountKeys.from_secrets(platform.secrets),
        settings=AccountSettings.from_settings(platform.settings),
    )
    if staff_id is None:
        with transaction(platform.sessions) as session:
            audit.append(session, actor="cli", action=refused, reason=actor[:60])
    return staff_id


@models_app.command("retire")
def models_retire(
    version: str, actor: Actor = "cli", because: str = "manual", data_dir: DataDir = None
) -> None:
    """Take a version out of use for good."""
    from .registry import retire

    with _opened(data_dir) as (platform, _), transaction(platform.sessions) as session:
        retire(session, version, actor=actor, because=because)
    console.print(f"retired {version}")


def evaluate_cmd(
    report: Annotated[Path, typer.Option(help="Where the HTML report goes.")] = Path(
        "learn-report.html"
    ),
    include_retired: Annotated[bool, typer.Option(help="Score retired versions too.")] = False,
    external_voices: Annotated[
        str,
        typer.Option(
            help="espeak-ng voices (comma-separated) for the external held-out set; '' skips it."
        ),
    ] = ",".join(HELDOUT_VOICES),
    data_dir: DataDir = None,
) -> None:
    """Score every model version on the held-out split and the external held-out set; an HTML
    report and the same tables here."""
    from .evaluate import evaluate
    from .report import summary_lines, terminal_tables, write_report

    voices = tuple(v.strip() for v in external_voices.split(",") if v.strip())
    with _opened(data_dir) as (platform, learn):
        result = evaluate(
            platform,
            heldout_percent=learn.heldout_percent,
            include_retired=include_retired,
            external_voices=voices,
        )
    for line in summary_lines(result):
        console.print(line)
    for table in terminal_tables(result):
        console.print(table)
    console.print(f"report: {write_report(result, report)}")
