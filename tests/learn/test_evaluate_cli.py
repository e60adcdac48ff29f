"""Evaluation with real recognisers on synthesised speech, the HTML report, and the commands."""

from __future__ import annotations

import pyotp
import pytest
import typer
from typer.testing import CliRunner

from overheard.learn.cli import evaluate_cmd, export_cmd, models_app, train_app
from overheard.learn.models import SplitName

HELD = [
    ("alexa switch off the study lights", "lights_off"),
    ("alexa will it rain in norwich tomorrow", "weather"),
]
TRAIN = [
    ("alexa switch off the hallway lights", "lights_off"),
    ("alexa will it rain in york tonight", "weather"),
    ("alexa turn the study lights off", "lights_off"),
]


@pytest.fixture(scope="module")
def speak():
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return lambda text: synthesise(text, "en-gb")


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("OVERHEARD_DATABASE_URL", settings.database_url)
    app = typer.Typer()
    app.command("export")(export_cmd)
    app.add_typer(train_app, name="train")
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate_cmd)
    runner = CliRunner()
    data_dir = str(settings.data_dir)

    def run(*args: str, input: str | None = None, exit_code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--data-dir", data_dir], input=input)
        assert result.exit_code == exit_code, (result.output, result.exception)
        return result.output

    return run


@pytest.mark.slow
def test_train_approve_evaluate_through_the_commands(
    platform, make_home, make_reviewed, make_lead_login, speak, cli, tmp_path
):
    home, other = make_home(), make_home()
    for text, intent in TRAIN:
        make_reviewed(home, text, intent, pcm=speak(text))
    for text, intent in HELD:
        make_reviewed(other, text, intent, pcm=speak(text), split=SplitName.HELDOUT, confidence=0.3)
    # held-out side, but a training sentence, or a training household: never scored
    make_reviewed(other, *TRAIN[0], pcm=speak(TRAIN[0][0]), split=SplitName.HELDOUT)
    make_reviewed(home, "alexa play some folk", "music_play", split=SplitName.HELDOUT)
    assert "asr-0001: trained on 3 reviewed clips" in cli("train", "asr")
    assert "nlu-0001" in cli("train", "nlu")
    lead = make_lead_login()
    code = pyotp.TOTP(lead.secret).now()
    refused = cli("models", "approve", "asr-0001", "--actor", lead.pseudonym,
                  input=f"{lead.password}\n000000\n" if code != "000000" else "x\n1\n", exit_code=1)
    assert "wrong password or authenticator code" in refused
    assert "asr-0001  candidate" in cli("models", "list")  # a pseudonym alone approves nothing
    cli("models", "approve", "asr-0001", "--actor", lead.pseudonym, input=f"{lead.password}\n{code}\n")
    listing = cli("models", "list")
    assert "asr-0001  approved" in listing and "lineage " in listing
    out = cli("export", "--out", str(tmp_path / "ex"), "--split", "heldout")
    assert ": 4 clips" in out
    report = tmp_path / "report.html"
    out = cli("evaluate", "--report", str(report), "--external-voices", "en-us-nyc")
    # the recogniser in use (whisper) before and after adaptation
    assert "whisper (unadapted)" in out and "asr-0001 (approved)" in out and "nlu-0001" in out
    assert "2 held-out clips scored" in out
    assert "left out: 1 same household, 1 same sentence" in out
    assert "external held-out set: 40 spoken requests" in out
    html = report.read_text()
    assert html.count("<svg") >= 4 and "low_confidence" in html and "Confusion" in html
    assert "External held-out set" in html


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
