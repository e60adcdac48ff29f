"""A voice deletion waiting for a spoken yes: the device that heard it learns the question, speaks it
with espeak-ng, and its next recording is the answer (a real ``overheard serve`` on loopback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.device.client import DeviceClient, Processing
from overheard.device.frames import file_frames
from overheard.device.run import Device
from overheard.device.voice import Voice, pcm_of
from overheard.speech.audio import read_audio_file, to_wav_bytes
from overheard.speech.questions import DECLINED, QUESTION, REASK
from tests._heard import heard, store_heard
from tests.device.conftest import CONFIRM_S, LiveServer, recordings_of, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]
def spoken(tmp_path: Path, text: str, words_per_minute: int = 175) -> Path:
    """``text`` said by espeak-ng, as a WAV file (the device's input)."""
    path = tmp_path / f"{abs(hash(text)):x}-{words_per_minute}.wav"
    wav = subprocess.run(["espeak-ng", "-v", "en-gb", "-s", str(words_per_minute), "--stdout", text],
                         check=True, capture_output=True).stdout
    path.write_bytes(wav)
    return path


@pytest.fixture
def platform_of(live: LiveServer) -> Iterator[object]:
    """The live server's platform, opened beside it (as a worker would)."""
    from overheard.config import Settings
    from overheard.platform import Platform

    settings = Settings(data_dir=live.data_dir, database_url=live.env["OVERHEARD_DATABASE_URL"])
    platform = Platform.open(settings.resolved())
    yield platform
    platform.close()


def quiet_voice(tmp_path: Path) -> tuple[Voice, list[str]]:
    """espeak-ng for real; the sound kept in files instead of played (no speaker in a test)."""
    notes: list[str] = []
    return Voice(notes.append, play=lambda wav: None, keep_dir=tmp_path / "said"), notes


def say_and_send(device: Device, clip: Path, count: int) -> str:
    """Play ``clip`` to the device; the id of the recording it delivered (its ``count``-th)."""
    device.run(file_frames([clip]))
    wait_until(lambda: len(device.uploader.tally.delivered_ids) == count)
    return device.uploader.tally.delivered_ids[-1]


def ask(platform, recording_id: str, command: str) -> None:  # type: ignore[no-untyped-def]
    """What the pipeline does with a deletion the guard wants confirmed."""
    from overheard.recordings import voice_delete
    from overheard.recordings.models import Recording

    with platform.sessions() as session:
        rec = session.get(Recording, recording_id)
    voice_delete.ask(platform, rec, command)


def events(platform, action: str, subject: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with platform.sessions() as session:
        found = session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                         AuditEvent.subject == subject))
        rows = list(found)
        session.expunge_all()
        return rows


def status_for(live: LiveServer, token: str, recording_id: str):  # type: ignore[no-untyped-def]
    """What the device with ``token`` hears about a recording."""
    client = DeviceClient(live.url, token)
    try:
        return client.status(recording_id)
    finally:
        client.close()


def output(device: Device) -> str:
    return device.line._out.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_the_question_reaches_the_device_that_heard_the_command_and_no_other(
    live: LiveServer, make_device: Callable[..., Device], platform_of, tmp_path: Path
):
    voice, notes = quiet_voice(tmp_path)
    device = make_device(live, voice=voice)
    device.uploader.start()
    first = say_and_send(device, spoken(tmp_path, "Alexa, what time is it"), 1)
    [household] = [r.household_id for r in recordings_of(live) if r.id == first]
    kitchen = json.loads(live.overheard("devices", "add", "--household", household, "--serial",
                                        f"KITCHEN-{first[:6]}", "--json"))["device_token"]
    neighbour = live.enrol(tmp_path, "Grace").token()
    command = say_and_send(device, spoken(tmp_path, "Alexa, delete that"), 2)
    ask(platform_of, command, "delete_today")  # its answer must be captured within CONFIRM_S

    wait_until(lambda: len(voice.spoken) == 1)  # printed, then spoken
    [prompt] = device.uploader.tally.prompts
    assert prompt.about == command and prompt.kind == "question"
    assert prompt.say == QUESTION["delete_today"]
    assert f'asks: "{QUESTION["delete_today"]}"' in output(device)
    [kept] = voice.spoken  # real espeak-ng speech, 2-6 s of it
    pcm, rate = pcm_of(kept.read_bytes())
    assert 2.0 < pcm.size / rate < 6.0 and np.abs(pcm).max() > 3000 and notes == []

    same_household = status_for(live, kitchen, command)
    assert isinstance(same_household, Processing) and same_household.prompt is None
    assert status_for(live, neighbour, command) is None  # another household: 404
    time.sleep(0.5)  # the device keeps asking; it is told once, and the telling audited once
    assert len(device.uploader.tally.prompts) == 1
    [told] = events(platform_of, "voice_delete.prompted", command)
    assert told.reason == "question" and told.details["about"] == command
    [row] = [r for r in recordings_of(live) if r.id == command]
    assert told.actor == row.device_id  # type: ignore[attr-defined]


def test_an_unclear_answer_makes_the_device_ask_again_in_other_words(
    live: LiveServer, make_device: Callable[..., Device], platform_of, tmp_path: Path
):
    voice, _ = quiet_voice(tmp_path)
    device = make_device(live, voice=voice)
    device.uploader.start()
    command = say_and_send(device, spoken(tmp_path, "Alexa, delete that"), 1)
    ask(platform_of, command, "delete_last")
    wait_until(lambda: len(voice.spoken) == 1)
    answer = say_and_send(device, spoken(tmp_path, "Alexa, yes"), 2)
    assert device.answers and 'sending it as the answer to "Delete your last' in output(device)
    unsure = heard("yes", 0.05)  # a yes the recogniser is unsure of
    store_heard(platform_of, answer, unsure)

    wait_until(lambda: len(voice.spoken) == 2)
    question, again = device.uploader.tally.prompts
    assert again.about == answer and again.kind == "reask"
    assert again.say == REASK["delete_last"] != question.say
    assert again.say == unsure.question("delete_last")  # the words `overheard transcribe` shows
    assert again.answer_by > question.answer_by
    assert f'asks: "{REASK["delete_last"]}"' in output(device)
    # the question asked again is the answer's, no longer the command's
    status = device.uploader.client.status(command)
    assert isinstance(status, Processing) and status.prompt is None


def test_after_speaking_the_question_the_device_takes_one_answer_without_the_wake_word(
    live: LiveServer, make_device: Callable[..., Device], platform_of, tmp_path: Path
):
    voice, _ = quiet_voice(tmp_path)
    device = make_device(live, voice=voice)
    device.uploader.start()
    yes = spoken(tmp_path, "yes please")
    device.run(file_frames([yes]))  # no question open: without the wake word nothing is recorded
    assert device.utterances == []
    command = say_and_send(device, spoken(tmp_path, "Alexa, delete that"), 1)
    ask(platform_of, command, "delete_last")
    wait_until(lambda: device.detector.answer_until is not None)  # once the question is spoken
    assert len(voice.spoken) == 1
    assert device.detector.answer_until == device.uploader.tally.prompts[0].answer_by
    say_and_send(device, yes, 2)
    [answer] = device.answers
    assert answer.answer_only
    assert "answer heard without the wake word" in output(device)
    assert 'sending it as the answer to "Delete your last' in output(device)
    assert device.detector.answer_until is None
    device.run(file_frames([yes]))  # the window is used once
    assert len(device.utterances) == 2


@pytest.mark.parametrize("case", ["no", "deadline"])
def test_after_a_no_only_that_nothing_was_deleted_is_said_and_nothing_after_the_deadline(
    live: LiveServer, make_device: Callable[..., Device], platform_of, tmp_path: Path, case: str
):
    voice, _ = quiet_voice(tmp_path)
    device = make_device(live, voice=voice)
    device.uploader.start()
    clip = spoken(tmp_path, "Alexa, delete that")
    if case == "deadline":  # the command reaches the server after its question's deadline
        late = datetime.now(UTC) - timedelta(seconds=CONFIRM_S + 5)
        device.queue.put(to_wav_bytes(read_audio_file(clip).pcm), late)
        device.uploader.poke()
        wait_until(lambda: len(device.uploader.tally.delivered_ids) == 1)
        command = device.uploader.tally.delivered_ids[0]
        ask(platform_of, command, "delete_last")
    else:
        command = say_and_send(device, clip, 1)
        ask(platform_of, command, "delete_last")
        wait_until(lambda: len(voice.spoken) == 1)
        no = say_and_send(device, spoken(tmp_path, "Alexa, no"), 2)
        store_heard(platform_of, no, heard("no", 0.9))
        wait_until(lambda: len(voice.spoken) == 2)  # "Okay, nothing was deleted."
    # the device keeps asking about its recordings; the question is over for both
    polled = device.uploader.client.status(command)
    assert isinstance(polled, Processing) and polled.prompt is None
    time.sleep(1.0)
    kinds = [p.kind for p in device.uploader.tally.prompts]
    assert kinds == ([] if case == "deadline" else ["question", "declined"])
    assert len(voice.spoken) == len(kinds) and output(device).count("asks:") == min(len(kinds), 1)
    if case == "no":
        assert device.uploader.tally.prompts[1].say == DECLINED["delete_last"]
        assert device.uploader.tally.prompts[1].about == no
        assert f'says: "{DECLINED["delete_last"]}"' in output(device)
        assert device.asked is None  # nothing waits for an answer any more
        assert len(events(platform_of, "voice_delete.declined", command)) == 1
    assert events(platform_of, "voice_delete.reasked", command) == []
    assert len(events(platform_of, "voice_delete.prompted", command)) == len(kinds)


def test_a_voice_without_espeak_ng_prints_why_it_stays_silent(tmp_path: Path):
    notes: list[str] = []
    voice = Voice(notes.append, engine="no-such-espeak-ng", play=lambda wav: None)
    assert voice.speak("Delete your last recording? Say yes to confirm.") is None
    assert voice.speak("again") is None
    assert len(notes) == 1 and "apt-get install espeak-ng" in notes[0]


@pytest.mark.data
def test_the_spoken_answer_flows_through_the_pipeline_to_the_deletion(
    make_device: Callable[..., Device], shared_data: Path, tmp_path: Path
):
    """Device → pipeline (wake word, Whisper, intent, guard) → question → spoken → "Alexa, yes" →
    the pipeline's answer path → deletion → 410 → the device says so."""
    server = LiveServer(
        tmp_path / "pipeline-server" / "data",
        OVERHEARD_WORKERS="1",
        OVERHEARD_VOICE_DELETE_CONFIRM="always",
        OVERHEARD_VOICE_DELETE_CONFIRM_S="300",  # a loaded machine decodes slowly
        OVERHEARD_VOICE_DELETE_UNDO_S="0",
    )
    server.overheard("init")
    server.start()
    try:
        voice, _ = quiet_voice(tmp_path)
        device = make_device(server, voice=voice)
        device.uploader.start()
        request = shared_data / "wakeword" / "alexa" / "0.flac"
        # Whisper base hears espeak-ng's default pace as "believe everything i sent to me" (no
        # command); said slower, as "delete everything i sent to me": a deletion it asks about.
        command = spoken(tmp_path, "Alexa, delete everything I said today", 130)
        device.run(file_frames([request, command]))
        wait_until(lambda: len(voice.spoken) == 1, timeout_s=240)
        [prompt] = device.uploader.tally.prompts
        assert prompt.say == QUESTION["delete_today"]
        assert recordings_of(server) != []  # asked, not deleted
        device.run(file_frames([spoken(tmp_path, "Alexa, yes")]))
        wait_until(lambda: bool(device.uploader.tally.deletions), timeout_s=240)
        assert device.uploader.tally.deletions[0].kind == "voice_today"
        assert len(device.answers) == 1
        assert "deleted on your request: everything you said today" in output(device)
        assert recordings_of(server) == []
        done = audit_actions(server)
        assert done.index("voice_delete.asked") < done.index("voice_delete.prompted")
        assert done.index("voice_delete.prompted") < done.index("voice_delete.confirmed")
    finally:
        device.uploader.stop()
        server.stop()


def audit_actions(server: LiveServer) -> list[str]:
    """Every audited action on ``server``, in order."""
    from overheard.config import Settings
    from overheard.platform import Platform

    settings = Settings(data_dir=server.data_dir, database_url=server.env["OVERHEARD_DATABASE_URL"])
    platform = Platform.open(settings.resolved())
    try:
        with platform.sessions() as session:
            return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    finally:
        platform.close()
