"""What every command group shares: the data-dir and JSON options, and opening the platform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .config import load_settings, remember_setting
from .errors import OverheardError
from .platform import Platform

console = Console()
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PublicUrl = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        help="Where people reach the server (e.g. https://review.example.org); kept in the data "
        "dir's settings.env and used by every link the commands print.",
    ),
]


def remember_public_url(data_dir: Path | None, public_url: str | None) -> None:
    """Keep ``--public-url`` in the data dir's ``settings.env``; a malformed URL exits with status 2."""
    if public_url is None:
        return
    try:
        remember_setting(load_settings(data_dir=data_dir).data_dir, "public_url", public_url)
    except ValueError:
        console.print(f"[red]error:[/red] --public-url must be an http(s) URL, not {public_url!r}")
        raise typer.Exit(2) from None


@contextmanager
def opened(data_dir: Path | None) -> Iterator[Platform]:
    """The platform of an initialised data directory; errors become a clean exit with status 1."""
    platform = None
    try:
        platform = Platform.open(load_settings(data_dir=data_dir))
        yield platform
    except OverheardError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        if platform is not None:
            platform.close()
