"""``overheard intents list|add``: the intent catalogue reviewers pick from and `train nlu` learns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import load_settings
from ..errors import OverheardError
from ..speech import catalogue

intents_app = typer.Typer(
    help="The intent catalogue: list it, or add an intent with example requests.",
    no_args_is_help=True,
)
console = Console()
DataDir = Annotated[Path | None, typer.Option(help="Data directory (default: settings).")]


@intents_app.command("list")
def intents_list(data_dir: DataDir = None) -> None:
    """Every intent reviewers can pick, the lead's additions with their example counts."""
    settings = load_settings(data_dir=data_dir)
    counts: dict[str, int] = {}
    for _, intent in catalogue.lead_examples(settings):
        counts[intent] = counts.get(intent, 0) + 1
    for intent in catalogue.intents(settings):
        extra = f"  (+{counts[intent]} catalogue examples)" if intent in counts else ""
        console.print(f"{intent}{extra}")


@intents_app.command("add")
def intents_add(
    intent: str,
    examples: Annotated[list[str], typer.Argument(help="Example requests, each quoted.")],
    data_dir: DataDir = None,
) -> None:
    """Add an intent (or more examples of one) to the catalogue; `train nlu` learns them."""
    settings = load_settings(data_dir=data_dir)
    try:
        written = catalogue.add_intent(settings, intent, examples)
    except OverheardError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(
        f"{written} example(s) of {intent.strip().lower()} -> {catalogue.catalogue_file(settings)}"
    )
