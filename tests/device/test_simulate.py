"""Simulated devices against a real server: wake-word clips are sent, the rest never are."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overheard.device.cli import device_app
from overheard.device.enrol import enrol_households
from overheard.device.simulate import SILENCE, load_clips, simulate
from tests.device.conftest import LiveServer, recordings_of
from tests.device.test_live import alexa, linked, speakers

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_simulated_devices_send_only_what_they_heard_the_wake_word_in(
    live: LiveServer, shared_data: Path, tmp_path: Path
):
    wake = linked(tmp_path / "alexa", alexa(shared_data, "0.flac", "1.flac", "10.flac"))
    near_misses = sorted((shared_data / "wakeword" / "computer").glob("*.wav"))[:3]
    other = linked(tmp_path / "speech", [*near_misses, *speakers(shared_data, 1)])
    tokens = enrol_households(live.data_dir, 3)
    before = len(recordings_of(live))
    clips = load_clips([wake, other], None, random.Random(1))
    report = simulate(live.url, tokens, clips, rate_per_s=1.0, duration_s=8.0, seed=4)
    assert report.tally("alexa").played >= 1 and report.tally("speech").played >= 1
    assert report.tally("speech").detected == 0 and report.tally(SILENCE).detected == 0
    sent = report.tally("alexa").sent
    assert report.tally("alexa").detected >= report.tally("alexa").played  # these clips all wake it
    assert sent == report.tally("alexa").detected
    assert len(recordings_of(live)) - before == sent
    assert report.frames >= 3 * 8.0 / 0.08 - 3 and report.max_lag_s < 1.0


def test_simulate_command_enrols_households_and_prints_the_outcome(
    live: LiveServer, shared_data: Path, tmp_path: Path
):
    wake = linked(tmp_path / "alexa", alexa(shared_data, "0.flac"))
    other = linked(tmp_path / "speech", speakers(shared_data, 1))
    saved = tmp_path / "tokens.txt"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(device_app, [
        "simulate", "--server", live.url, "--households", "2", "--rate", "1", "--duration", "3",
        "--clips", str(wake), "--clips", str(other), "--data-dir", str(live.data_dir),
        "--save-tokens", str(saved)], env=live.env)
    assert result.exit_code == 0, result.output
    assert "wake word heard" in result.output and "real-time factor" in result.output
    assert len(saved.read_text().split()) == 2 and (saved.stat().st_mode & 0o777) == 0o600
    missing = CliRunner().invoke(device_app, ["simulate", "--clips", str(wake), "--households", "2"])
    assert missing.exit_code == 2 and "--data-dir" in missing.output
