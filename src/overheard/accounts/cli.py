"""``overheard users``: add, list, disable and re-role staff; every change audited with it."""

from __future__ import annotations

import json
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


def enrolment_link(settings: Settings, token: str) -> str:
    """The URL a new staff member opens to choose a password and set up their authenticator."""
    base = settings.base_url
    return f"{base.rstrip('/')}/enrol/{token}"


@users_app.command("add")
def add(
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    name: Annotated[str, typer.Option(help="The person's own name (shown only to admins).")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a staff user; prints their pseudonym and a one-time enrolment link."""
    with opened(data_dir) as platform, transaction(platform.sessions) as session:
        staff, token = service.create_staff(session, name=name, role=role.value, actor=ACTOR)
    link = enrolment_link(platform.settings, token)
    if as_json:
        typer.echo(
            json.dumps({"id": staff.id, "pseudonym": staff.pseudonym, "enrolment_link": link})
        )
        return
    console.print(f"created {staff.pseudonym} ({staff.role}); send this one-time link:")
    typer.echo(link)


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
