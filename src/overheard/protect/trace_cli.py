"""``overheard trace FILE``: which serve a leaked clip came from (thin wrapper over ``tracing``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import load_settings
from ..db import utcnow
from ..errors import OverheardError
from ..platform import Platform
from .tracing import TraceResult, trace_file

DEFAULT_ACTOR = "cli:trace"


def describe(result: TraceResult) -> dict[str, Any]:
    """The result as plain fields, for printing."""
    base: dict[str, Any] = {
        "watermark": result.watermark_id,
        "score": round(result.score, 2),
        "false_positive_bound": result.false_positive_bound,
    }
    serve = result.serve
    if serve is None:
        return base
    return base | {
        "served_under": f"{serve.grant_kind} {serve.grant_id}",
        "reviewer": serve.staff,
        "clip": serve.task_pseudonym,
        "served_at": serve.served_at.isoformat(),
        "recording": serve.recording_id,
    }


def render(result: TraceResult) -> str:
    """Human-readable lines."""
    fields = describe(result)
    if result.watermark_id is None:
        bound = result.false_positive_bound
        return f"no watermark (an unmarked file would show one with probability ≤ {bound:.1e})"
    if result.serve is None:
        return (
            f"watermark {result.watermark_id}: a valid mark, but no serve with this id is recorded"
        )
    return "\n".join(f"{name:>20}: {value}" for name, value in fields.items())


def trace_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio file to trace.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")
    ] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who traces (audited).")] = DEFAULT_ACTOR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read the watermark of a leaked clip and name the lease, reviewer and time it was served."""
    platform = None
    try:
        platform = Platform.open(load_settings(data_dir=data_dir))
        result = trace_file(platform, file, actor=actor, now=utcnow())
    except OverheardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        if platform is not None:
            platform.close()
    typer.echo(json.dumps(describe(result)) if as_json else render(result))
