"""``overheard audit …`` through Typer's runner, against a real data directory."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from overheard.auditlog import InclusionProof, load_public_key, verify_inclusion
from overheard.auditlog.cli import audit_app

runner = CliRunner()


@pytest.fixture
def cli(platform, fill):  # type: ignore[no-untyped-def]
    """Run an audit command against the platform's data dir (and its database)."""
    data_dir = platform.settings.data_dir
    (data_dir / "settings.env").write_text(
        f"OVERHEARD_DATABASE_URL={platform.settings.database_url}\n"
    )

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(audit_app, [*args, "--data-dir", str(data_dir)])
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_checkpoint_prove_verify_round_trip(cli, fill, tmp_path):
    fill(5)
    head = json.loads(cli("checkpoint"))
    assert head["tree_size"] == 5
    pem = cli("public-key")
    key_file = tmp_path / "audit.pub"
    key_file.write_text(pem)
    head_file = tmp_path / "head.json"
    head_file.write_text(json.dumps(head))
    assert "ok: 5 events, 2 checkpoints" in cli(
        "verify", "--public-key", str(key_file), "--head", str(head_file)
    )
    proof = InclusionProof.from_json(json.loads(cli("prove", "3")))
    assert proof.head.signed_by(load_public_key(pem))
    assert verify_inclusion(proof, proof.entry_hash, proof.head.root_hash)
    proof_json = json.loads(cli("consistency", "5", "5"))
    assert proof_json == {"old_size": 5, "new_size": 5, "path": []}


def test_verify_fails_with_the_first_bad_seq(cli, platform, fill):
    fill(4)
    cli("checkpoint")
    with platform.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'x' WHERE seq = 2"))
    out = cli("verify", code=1)
    assert "first bad seq 2" in out and "content changed" in out
    report = json.loads(cli("verify", "--json", code=1))
    assert report["first_bad_seq"] == 2 and not report["ok"]


def test_tail_prints_ids_only(cli, fill):
    fill(5)
    rows = json.loads(cli("tail", "-n", "2", "--json"))
    assert [r["seq"] for r in rows] == [4, 5]
    assert set(rows[0]) == {"seq", "at", "actor", "action", "subject", "household_id", "entry_hash"}
    assert "rec0004" in cli("tail", "-n", "1")


def test_prove_before_any_checkpoint_is_a_clean_error(cli, fill):
    fill(2)
    assert "no such audit checkpoint" in cli("prove", "1", code=1)
