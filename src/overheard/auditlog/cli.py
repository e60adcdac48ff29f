"""``overheard audit …``: verify, prove, checkpoint, public-key, tail (thin wrappers over the services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from ..cli_support import AsJson, DataDir, opened
from ..config import Settings, load_settings
from ..db import transaction
from ..platform import Platform
from ._rows import tail
from .checkpoints import checkpoint, latest_checkpoint
from .proofs import prove, prove_consistency
from .signing import (
    SIGNING_KEY_FILE,
    TreeHead,
    ensure_signing_key,
    load_public_key,
    load_signing_key,
    public_key_pem,
)
from .verify import verify

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console()
TAIL_DEFAULT_EVENTS = 20


def signing_key_path(settings: Settings) -> Path:
    """Where the checkpoint signing key lives: the data directory, never the database."""
    return Path(settings.audit_signing_key_path or settings.data_dir / SIGNING_KEY_FILE)


def _public_key(platform: Platform, path: Path | None) -> Ed25519PublicKey:
    if path is not None:
        return load_public_key(path.read_bytes())
    return load_signing_key(signing_key_path(platform.settings)).public_key


@audit_app.command("verify")
def verify_cmd(
    data_dir: DataDir = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Auditor's copy of the public key (PEM).", exists=True),
    ] = None,
    head: Annotated[
        list[Path] | None,
        typer.Option(
            "--head", help="A tree head published earlier (JSON); repeatable.", exists=True
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check the chain, every checkpoint signature and signed root; exit 1 naming the first bad seq."""
    heads = [TreeHead.from_json(json.loads(p.read_text())) for p in head or []]
    with opened(data_dir) as platform, platform.sessions() as session:
        report = verify(session, _public_key(platform, public_key), heads=heads)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "events": report.events,
                    "checkpoints": report.checkpoints,
                    "first_bad_seq": report.first_bad_seq,
                    "problems": [str(p) for p in report.problems],
                }
            )
        )
    elif report.ok:
        console.print(f"ok: {report.events} events, {report.checkpoints} checkpoints verified")
    else:
        console.print(f"[red]FAILED[/red] first bad seq {report.first_bad_seq}")
        for problem in report.problems:
            console.print(f"  {problem}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("prove")
def prove_cmd(
    seq: int,
    data_dir: DataDir = None,
    tree_size: Annotated[
        int | None, typer.Option(help="Checkpoint to prove against (default: latest).")
    ] = None,
) -> None:
    """Print a JSON inclusion proof of event SEQ against a signed checkpoint."""
    with opened(data_dir) as platform, platform.sessions() as session:
        proof = prove(session, seq, tree_size=tree_size)
    typer.echo(json.dumps(proof.to_json(), indent=2))


@audit_app.command("consistency")
def consistency_cmd(old_size: int, new_size: int, data_dir: DataDir = None) -> None:
    """Print a JSON consistency proof between two checkpoints."""
    with opened(data_dir) as platform, platform.sessions() as session:
        proof = prove_consistency(session, old_size, new_size)
    typer.echo(json.dumps(proof.to_json(), indent=2))


@audit_app.command("checkpoint")
def checkpoint_cmd(data_dir: DataDir = None) -> None:
    """Sign the current tree head now; prints it as JSON for publishing outside the server."""
    with opened(data_dir) as platform:
        signer = ensure_signing_key(signing_key_path(platform.settings))
        with transaction(platform.sessions) as session:
            row = checkpoint(session, signer) or latest_checkpoint(session)
    if row is None:
        console.print("the audit log is empty; nothing to sign")
        return
    typer.echo(json.dumps(row.head().to_json()))


@audit_app.command("public-key")
def public_key_cmd(data_dir: DataDir = None) -> None:
    """Print the checkpoint verification key (PEM) for auditors; creates the key pair if absent."""
    settings = load_settings(data_dir=data_dir)
    typer.echo(public_key_pem(ensure_signing_key(signing_key_path(settings)).public_key), nl=False)


@audit_app.command("tail")
def tail_cmd(
    data_dir: DataDir = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many events.")] = (
        TAIL_DEFAULT_EVENTS
    ),
    as_json: AsJson = False,
) -> None:
    """The newest events: sequence, time, actor, action and ids (events never hold content)."""
    with opened(data_dir) as platform, platform.sessions() as session:
        rows = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "household_id": e.household_id,
                "entry_hash": e.entry_hash.hex()[:16],
            }
            for e in tail(session, count)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("seq", "at", "actor", "action", "subject", "household", "entry")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
