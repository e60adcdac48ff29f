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


def test_export_refuses_plaintext_without_a_privacy_officer(
    platform, make_home, make_reviewed, settings, tmp_path, monkeypatch
):
    monkeypatch.setenv("OVERHEARD_DATABASE_URL", settings.database_url)
    make_reviewed(make_home(), "alexa play folk", "music_play")
    app = typer.Typer()
    app.command("export")(export_cmd)
    app.command("evaluate")(evaluate_cmd)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--plaintext",
            "--actor",
            "R-nobody",
            "--out",
            str(tmp_path / "p"),
            "--data-dir",
            str(settings.data_dir),
        ],
    )
    assert result.exit_code == 1 and "privacy officer" in result.output
    assert not (tmp_path / "p").exists()
