"""Simulated devices against a real server: wake-word clips are sent, the rest never are."""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
from datetime import UTC
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overheard.device.cli import device_app
from overheard.device.enrol import enrol_households
from overheard.device.simulate import ANSWER, SILENCE, load_clip, load_clips, simulate
from tests.device.conftest import LiveServer, recordings_of, wait_until
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


def ask_about_the_first_new_recording(live: LiveServer, before: set[str], asked: list[str]) -> None:
    """What the pipeline does with "delete that": the deletion waits for a spoken yes."""
    from overheard.config import Settings
    from overheard.platform import Platform
    from overheard.recordings import voice_delete
    from overheard.recordings.models import Recording

    wait_until(lambda: any(r.id not in before for r in recordings_of(live)), timeout_s=10)
    first = min((r for r in recordings_of(live) if r.id not in before), key=lambda r: r.captured_at)
    settings = Settings(data_dir=live.data_dir, database_url=live.env["OVERHEARD_DATABASE_URL"])
    platform = Platform.open(settings.resolved())
    try:
        with platform.sessions() as session:
            rec = session.get_one(Recording, first.id)
        voice_delete.ask(platform, rec, "delete_last")
        asked.append(first.id)
    finally:
        platform.close()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_simulated_devices_print_the_question_and_answer_it_from_their_script(
    live: LiveServer, shared_data: Path, tmp_path: Path
):
    wake = linked(tmp_path / "alexa", alexa(shared_data, "0.flac"))
    said = subprocess.run(["espeak-ng", "-v", "en-gb", "--stdout", "yes please"],
                          check=True, capture_output=True).stdout
    (tmp_path / "yes.wav").write_bytes(said)
    [token] = enrol_households(live.data_dir, 1)
    before = {r.id for r in recordings_of(live)}
    asked: list[str] = []
    server = threading.Thread(target=ask_about_the_first_new_recording, args=(live, before, asked))
    server.start()
    clips = load_clips([wake], None, random.Random(1))
    messages: list[str] = []
    # seed 26: the wake-word clip arrives at 0.5 s, the next one only after the run
    report = simulate(live.url, [token], clips, rate_per_s=0.1, duration_s=14.0, seed=26,
                      say=messages.append, follow_prompts=True,
                      answer=load_clip(tmp_path / "yes.wav", ANSWER))
    server.join()
    [(device, prompt)] = report.prompts
    assert (device, prompt.about, prompt.kind) == (0, asked[0], "question")
    assert 'device 0 asks: "Delete your last recording? Say yes to confirm."' in messages
    assert report.tally(ANSWER).sent == 1  # the scripted answer, without the wake word
    [answer] = [r for r in recordings_of(live) if r.id not in before and r.id != asked[0]]
    captured = answer.captured_at
    captured = captured if captured.tzinfo is not None else captured.replace(tzinfo=UTC)
    assert captured <= prompt.answer_by  # in time to count
