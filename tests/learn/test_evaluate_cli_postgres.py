"""The scenario of ``test_evaluate_cli.py`` through the commands, on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.learn._evaluate_commands import train_approve_evaluate


@pytest.mark.slow
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_train_approve_evaluate_through_the_commands(
    platform, make_home, make_reviewed, make_lead_login, speak, cli, tmp_path
):
    # the external held-out set reads no database: the SQLite run scores it
    train_approve_evaluate(make_home, make_reviewed, make_lead_login, speak, cli, tmp_path, external=False)
