"""``overheard trace FILE``: a served clip names its serve; an unmarked file says "no watermark"."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from overheard.audit import AuditEvent
from overheard.demo import espeak_available, synthesise
from overheard.protect import serving
from overheard.protect.trace_cli import trace_cmd
from overheard.protect.tracing import trace_file
from tests.privacy._world import add_clip, claim, later, sample, synthetic_speech

FFMPEG = shutil.which("ffmpeg")


SPOKEN = "what will the weather be like in paris tomorrow morning, and do I need an umbrella"


@pytest.fixture
def traced(platform, make_household, tmp_path):  # type: ignore[no-untyped-def]
    """A served clip of speech (about 4 s) written to a WAV file, and the lease it was served under."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    serving.install(platform)
    clip = add_clip(platform, make_household, pcm=synthesise(SPOKEN, "en-gb"))
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    out = serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    path = tmp_path / "leaked.wav"
    path.write_bytes(out.wav)
    return path, lease, out, clip


def run_cli(platform, *args: str) -> str:  # type: ignore[no-untyped-def]
    """Run the command against ``platform``'s data directory (its database named in settings.env)."""
    data_dir = platform.settings.data_dir
    (data_dir / "settings.env").write_text(
        f"OVERHEARD_DATABASE_URL={platform.settings.database_url}\n"
    )
    app = typer.Typer()
    app.command()(trace_cmd)
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_trace_names_the_lease_and_the_reviewer(platform, traced):  # type: ignore[no-untyped-def]
    path, lease, out, clip = traced
    printed = run_cli(platform, str(path))
    assert f"lease {lease.lease_id}" in printed
    assert "R-a1" in printed and lease.task.pseudonym in printed
    assert str(out.watermark_id) in printed and clip.recording_id in printed
    with platform.sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "trace")).all()
    assert event.details["watermark"] == out.watermark_id
    assert (event.subject, event.household_id, event.reason) == (
        clip.recording_id,
        clip.household_id,
        "traced",
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
def test_trace_survives_an_mp3_re_encode(platform, traced, tmp_path):  # type: ignore[no-untyped-def]
    path, lease, out, _clip = traced
    mp3 = tmp_path / "leaked.mp3"
    subprocess.run(
        [str(FFMPEG), "-v", "error", "-y", "-i", str(path), "-b:a", "64k", str(mp3)], check=True
    )
    result = trace_file(platform, mp3, actor="test", now=later(60))
    assert result.watermark_id == out.watermark_id
    assert result.serve is not None and result.serve.grant_id == lease.lease_id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unmarked_file_has_no_watermark(platform, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "clean.wav"
    sf.write(path, synthetic_speech(4.0, seed=3), 16000, subtype="PCM_16")
    printed = run_cli(platform, str(path))
    assert printed.startswith("no watermark")
    assert "4.8e-06" in printed  # both 24-bit marks, the issued-id search and the first mark
    with platform.sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "trace")).all()
    assert event.reason == "no_mark" and event.household_id is None
