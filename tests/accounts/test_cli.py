"""``overheard users`` through typer's CliRunner, on the test database."""

from __future__ import annotations

import json

import pyotp
from sqlalchemy import select
from typer.testing import CliRunner

from overheard import audit
from overheard.accounts.cli import users_app
from overheard.accounts.models import StaffUser
from tests.accounts.conftest import PASSWORD, submit


def run(platform, *args: str):
    env = {"OVERHEARD_DATABASE_URL": platform.settings.database_url}
    return CliRunner().invoke(
        users_app, [*args, "--data-dir", str(platform.settings.data_dir)], env=env
    )


def test_users_add_prints_a_working_enrolment_link(platform, web, clock):
    result = run(platform, "add", "--role", "lead", "--name", "Lin Chen")
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/enrol/")
    path = link.removeprefix("http://127.0.0.1:8000")
    assert submit(web, path, password=PASSWORD, password_confirm=PASSWORD).status_code == 303
    page = web.get("/enrol/mfa").text
    secret = page.split('id="totp-secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    done = submit(web, "/enrol/mfa", code=pyotp.TOTP(secret).at(clock()))
    assert done.status_code == 303 and web.get("/account").status_code == 200


def test_list_disable_and_set_role_are_audited(platform):
    added = json.loads(
        run(platform, "add", "--role", "annotator", "--name", "Sam", "--json").output
    )
    listed = json.loads(run(platform, "list", "--json").output)
    assert [(u["pseudonym"], u["role"], u["state"]) for u in listed] == [
        (added["pseudonym"], "annotator", "enrolling")
    ]
    assert run(platform, "set-role", added["pseudonym"], "privacy_officer").exit_code == 0
    assert run(platform, "disable", added["id"]).exit_code == 0
    with platform.sessions() as db:
        row = db.get(StaffUser, added["id"])
        assert row.role == "privacy_officer" and row.disabled_at is not None
        events = db.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq)).all()
        assert [e.action for e in events] == ["staff.create", "staff.set_role", "staff.disable"]
        assert all(e.actor == "cli" and e.subject == added["id"] for e in events)
        assert audit.verify_chain(db).ok


def test_bad_input_is_refused(platform):
    assert run(platform, "add", "--role", "overlord", "--name", "X").exit_code != 0
    missing = run(platform, "disable", "R-ffff")
    assert missing.exit_code == 1 and "no staff user" in missing.output


def test_users_add_from_csv_creates_all_in_one_go(platform, tmp_path):
    sheet = tmp_path / "staff.csv"
    sheet.write_text("name,role\nAda Lovelace,annotator\nLin Chen,lead\n Sam Okafor ,annotator\n")
    result = run(platform, "add", "--from-csv", str(sheet), "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert [(m["name"], m["role"]) for m in made] == [
        ("Ada Lovelace", "annotator"), ("Lin Chen", "lead"), ("Sam Okafor", "annotator")
    ]
    assert len({m["pseudonym"] for m in made}) == 3
    assert all(m["enrolment_link"].startswith("http://127.0.0.1:8000/enrol/") for m in made)
    with platform.sessions() as db:
        actions = db.scalars(select(audit.AuditEvent.action)).all()
        assert actions.count("staff.create") == 3 and audit.verify_chain(db).ok


def test_users_add_from_csv_refuses_the_whole_file_for_one_bad_row(platform, tmp_path):
    sheet = tmp_path / "staff.csv"
    sheet.write_text("name,role\nAda Lovelace,annotator\nMallory,overlord\n")
    result = run(platform, "add", "--from-csv", str(sheet))
    assert result.exit_code == 1 and "row 3" in result.output
    headless = tmp_path / "bad.csv"
    headless.write_text("Ada,annotator\n")
    assert run(platform, "add", "--from-csv", str(headless)).exit_code != 0
    assert run(platform, "add", "--from-csv", str(sheet), "--role", "lead").exit_code != 0
    with platform.sessions() as db:
        assert db.scalars(select(StaffUser)).all() == []
