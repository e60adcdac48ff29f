"""What every command group shares: the data-dir and JSON options, and opening the platform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .config import load_settings
from .errors import OverheardError
from .platform import Platform

console = Console()
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


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
