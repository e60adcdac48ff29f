"""Evaluation with real recognisers on synthesised speech, the HTML report, and the commands.

The scenario through the commands runs here on SQLite and in ``test_evaluate_cli_postgres.py`` on
PostgreSQL (see ``_evaluate_commands.py``).
"""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from overheard.learn.cli import evaluate_cmd, export_cmd
from tests.learn._evaluate_commands import train_approve_evaluate


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_train_approve_evaluate_through_the_commands(
    platform, make_home, make_reviewed, make_lead_login, speak, cli, tmp_path
):
    train_approve_evaluate(make_home, make_reviewed, make_lead_login, speak, cli, tmp_path)


def test_a_plaintext_export_needs_a_privacy_officer_who_proves_it(
    platform, make_home, make_reviewed, make_lead_login, settings, tmp_path, monkeypatch
):
    import pyotp
    from sqlalchemy import select

    from overheard.audit import AuditEvent

    monkeypatch.setenv("OVERHEARD_DATABASE_URL", settings.database_url)
    make_reviewed(make_home(), "alexa play folk", "music_play")
    officer, lead = make_lead_login("privacy_officer"), make_lead_login("lead")
    app = typer.Typer()
    app.command("export")(export_cmd)
    app.command("evaluate")(evaluate_cmd)

    def export(who: str, typed: str, folder: str):  # type: ignore[no-untyped-def]
        args = ["export", "--plaintext", "--actor", who, "--out", str(tmp_path / folder),
                "--data-dir", str(settings.data_dir)]  # fmt: skip
        return CliRunner().invoke(app, args, input=typed)

    def code(login) -> str:  # type: ignore[no-untyped-def]
        return pyotp.TOTP(login.secret).now()

    # an officer's pseudonym alone: refused and audited, nothing written
    named = export(officer.pseudonym, f"not-the-password\n{code(officer)}\n", "named")
    assert named.exit_code == 1 and "wrong password or authenticator code" in named.output
    assert not (tmp_path / "named").exists()
    with platform.sessions() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "learn.export_refused"))
        assert [e.reason for e in refused] == [officer.pseudonym]
    # a lead who proves who they are is still no privacy officer
    led = export(lead.pseudonym, f"{lead.password}\n{code(lead)}\n", "lead")
    assert led.exit_code == 1 and "privacy officer" in led.output
    assert not (tmp_path / "lead").exists()
    # the officer, proven
    done = export(officer.pseudonym, f"{officer.password}\n{code(officer)}\n", "officer")
    assert done.exit_code == 0, done.output
    assert "1 clips" in done.output and (tmp_path / "officer").is_dir()
