"""``overheard users``: add, list, disable and re-role staff; every change audited with it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..cli_support import AsJson, DataDir, console, opened
from ..config import Settings
from ..db import transaction
from . import service
from .models import Role, StaffUser

users_app = typer.Typer(
    help="Staff users: enrolment links, roles, disabling.", no_args_is_help=True
)
ACTOR = "cli"
MAX_BATCH = 10_000
"""Most staff users one ``--from-csv`` file may create."""


def enrolment_link(settings: Settings, token: str) -> str:
    """The URL a new staff member opens to choose a password and set up their authenticator."""
    base = settings.base_url
    return f"{base.rstrip('/')}/enrol/{token}"


@users_app.command("add")
def add(
    role: Annotated[Role | None, typer.Option(help="What the user may do.")] = None,
    name: Annotated[
        str | None, typer.Option(help="The person's own name (shown only to admins).")
    ] = None,
    from_csv: Annotated[
        Path | None,
        typer.Option(
            "--from-csv",
            help="Create many at once: a CSV with a header row and the columns name,role.",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create staff users; prints each pseudonym and one-time enrolment link."""
    wanted = _wanted(role, name, from_csv)
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        made = service.create_staff_batch(session, wanted, actor=ACTOR)
    rows = [
        {"id": s.id, "name": s.display_name, "role": s.role, "pseudonym": s.pseudonym,
         "enrolment_link": enrolment_link(platform.settings, token)}
        for s, token in made
    ]
    if as_json:
        typer.echo(json.dumps(rows if from_csv is not None else _single(rows)))
        return
    for row in rows:
        console.print(f"created {row['pseudonym']} ({row['role']}); send this one-time link:")
        typer.echo(row["enrolment_link"])


def _single(rows: list[dict[str, str]]) -> dict[str, str]:
    return {k: rows[0][k] for k in ("id", "pseudonym", "enrolment_link")}


def _wanted(role: Role | None, name: str | None, from_csv: Path | None) -> list[tuple[str, str]]:
    """``(name, role)`` pairs from the options or from the CSV file (every row checked first)."""
    if from_csv is None:
        if role is None or name is None:
            raise typer.BadParameter("give --role and --name, or --from-csv FILE")
        return [(name, role.value)]
    if role is not None or name is not None:
        raise typer.BadParameter("--from-csv takes names and roles from the file, not options")
    with from_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or {"name", "role"} - {f.strip() for f in reader.fieldnames}:
            raise typer.BadParameter(f"{from_csv} needs a header row with name,role")
        pairs = [
            ((row.get("name") or "").strip(), (row.get("role") or "").strip()) for row in reader
        ]
    if len(pairs) > MAX_BATCH:
        raise typer.BadParameter(f"at most {MAX_BATCH} users per file")
    return pairs


@users_app.command("list")
def list_users(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every staff user with role and state."""
    with opened(data_dir) as platform, platform.sessions() as session:
        rows = [
            {
                "id": s.id,
                "pseudonym": s.pseudonym,
                "name": s.display_name,
                "role": s.role,
                "state": _state(s),
            }
            for s in service.list_staff(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "pseudonym", "name", "role", "state")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


def _state(staff: StaffUser) -> str:
    if staff.disabled_at is not None:
        return "disabled"
    return "active" if staff.has_totp else "enrolling"


@users_app.command("disable")
def disable(
    staff_id: Annotated[str, typer.Argument(help="Id or pseudonym.")], data_dir: DataDir = None
) -> None:
    """Disable a staff user; their sessions end at once."""
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        staff = service.disable_staff(session, staff_id, actor=ACTOR)
    console.print(f"disabled {staff.pseudonym}")


@users_app.command("set-role")
def set_role(
    staff_id: Annotated[str, typer.Argument(help="Id or pseudonym.")],
    role: Annotated[Role, typer.Argument(help="The new role.")],
    data_dir: DataDir = None,
) -> None:
    """Give a staff user another role."""
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        staff = service.set_role(session, staff_id, role.value, actor=ACTOR)
    console.print(f"{staff.pseudonym} is now {staff.role}")


@users_app.command("reset")
def reset(
    staff_id: Annotated[str, typer.Argument(help="Id or pseudonym.")], data_dir: DataDir = None
) -> None:
    """Clear a staff user's password and authenticator; prints a new one-time enrolment link."""
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        staff, token = service.reissue_enrolment(session, staff_id, actor=ACTOR)
    console.print(f"reset {staff.pseudonym}; send this one-time link:")
    typer.echo(enrolment_link(platform.settings, token))
