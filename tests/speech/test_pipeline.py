"""The speech pipeline as a job: real models on real and synthesised speech."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from overheard import audit
from overheard.db import transaction, utcnow
from overheard.households import Device
from overheard.jobs import Job, JobState, claim, run_claimed
from overheard.recordings.ingest import ingest
from overheard.recordings.models import DeletionReceipt, Recording, Status, Tombstone
from overheard.speech import pipeline
from overheard.speech.audio import read_audio_file, to_wav_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _registered():
    pipeline.register()


PINNED_TO_POCKETSPHINX = {"test_delete_what_i_just_said", "test_delete_everything_i_said_today"}
"""Voice-deletion flow tests: they test the deletion, so they keep the recogniser whose output on
these espeak-ng phrasings they were written for (whisper tiny.en hears "said today" as "said to
me"; its deletion recall is measured in docs/models/nlu.md)."""


@pytest.fixture
def settings(settings, request):  # type: ignore[no-untyped-def]
    """The shared settings, with pocketsphinx for the voice-deletion flow tests."""
    if request.function.__name__ in PINNED_TO_POCKETSPHINX:
        return settings.model_copy(update={"asr": "pocketsphinx"})
    return settings


@pytest.fixture
def device(platform, make_household):
    hh = make_household()
    with platform.sessions() as s:
        return s.get(Device, hh.device_id)


@pytest.fixture(scope="session")
def speak():
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise


def upload(platform, device, pcm: np.ndarray, **kw) -> str:
    return ingest(platform, device, to_wav_bytes(pcm), **kw).recording.id


def run_jobs(platform) -> None:
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)


def run_after_undo(platform) -> None:
    """Run what is due once the voice-deletion undo period has passed."""
    later = utcnow() + timedelta(seconds=platform.settings.voice_delete_undo_s + 1)
    while (job := claim(platform.sessions, now=later)) is not None:
        run_claimed(platform, job)


def recording(platform, rid: str) -> Recording | None:
    with platform.sessions() as s:
        return s.get(Recording, rid)


def test_wake_word_request_is_transcribed_and_interpreted(platform, device, speak):
    rid = upload(platform, device, speak("Alexa, what's the weather in London tomorrow", "en-gb"))
    run_jobs(platform)
    rec = recording(platform, rid)
    assert rec.status == Status.TRANSCRIBED
    assert rec.wake_score > 0.5 and 0 <= rec.asr_confidence <= 1
    with platform.sessions() as s:
        hyp = json.loads(platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))
        intent = json.loads(platform.gate.open_text(s, rec, "intent", actor="t", purpose="t"))
    assert "weather" in hyp["text"]
    assert intent["intent"] == "weather"


@pytest.mark.data
def test_speech_without_wake_word_is_accidental_and_purged(platform, device, shared_data):
    clip = next((shared_data / "speakers" / "librispeech-test-other").rglob("*.flac"))
    rid = upload(platform, device, read_audio_file(clip).pcm)
    blob = recording(platform, rid).audio_blob
    run_jobs(platform)
    rec = recording(platform, rid)
    assert rec.status == Status.ACCIDENTAL
    assert rec.audio_blob is None and not platform.blobs.exists(blob)
    assert rec.wake_score is not None and rec.duration_s > 0


@pytest.mark.parametrize("kind", ["silence", "noise", "dc", "clipped"])
def test_bad_signals_end_in_a_clear_state(platform, device, kind):
    rng = np.random.default_rng(3)
    n = 16000 * 2
    pcm = {
        "silence": np.zeros(n, np.int16),
        "noise": rng.normal(0, 3000, n).astype(np.int16),
        "dc": np.full(n, 9000, np.int16),
        "clipped": np.where(rng.random(n) > 0.5, 32767, -32768).astype(np.int16),
    }[kind]
    rid = upload(platform, device, pcm)
    run_jobs(platform)
    assert recording(platform, rid).status in {Status.ACCIDENTAL, Status.NO_SPEECH}


def test_job_for_deleted_recording_is_a_no_op(platform, device, speak):
    from overheard.recordings.deletion import delete_recordings

    rid = upload(platform, device, speak("Alexa, stop the music", "en-gb"))
    delete_recordings(platform, device.household_id, [rid], actor="test", scope={"kind": "one"})
    with transaction(platform.sessions) as s:
        s.add(Job(id="j" * 32, kind="process_recording", subject=rid))
    run_jobs(platform)
    with platform.sessions() as s:
        assert s.get(Job, "j" * 32).state == JobState.DONE
    assert recording(platform, rid) is None


def test_failing_job_leaves_recording_failed_with_reason(platform, device, speak):
    rid = upload(platform, device, speak("Alexa, set a timer for ten minutes", "en-gb"))
    rec = recording(platform, rid)
    platform.blobs.put(rec.audio_blob, b"\x01" + b"corrupt" * 20)  # cannot be opened any more
    for _ in range(platform.settings.job_max_attempts):
        with transaction(platform.sessions) as s:  # skip the backoff wait
            s.execute(Job.__table__.update().values(run_after=utcnow() - timedelta(seconds=1)))
        run_jobs(platform)
    rec = recording(platform, rid)
    assert rec.status == Status.FAILED
    assert "DecryptionFailed" in rec.status_reason
    with platform.sessions() as s:
        assert s.scalar(select(Job.state).where(Job.subject == rid)) == JobState.FAILED


def test_delete_what_i_just_said(platform, device, speak):
    now = utcnow()
    keep = upload(
        platform,
        device,
        speak("Alexa, play some jazz", "en-gb"),
        captured_at=now - timedelta(minutes=30),
    )
    said = upload(
        platform,
        device,
        speak("Alexa, add eggs to my shopping list", "en-gb"),
        captured_at=now - timedelta(minutes=2),
    )
    command = upload(
        platform,
        device,
        # Recognition of synthetic speech varies by voice; this voice and phrasing are recognised.
        speak("Alexa, forget what I just said", "en+f4"),
        captured_at=now - timedelta(minutes=1),
    )
    run_jobs(platform)
    assert recording(platform, said) is not None, "deleted before the undo period ended"
    run_after_undo(platform)
    assert recording(platform, said) is None and recording(platform, command) is None
    assert recording(platform, keep) is not None
    with platform.sessions() as s:
        stones = set(s.scalars(select(Tombstone.recording_id)))
        receipt = s.scalars(select(DeletionReceipt)).one()
        assert audit.verify_chain(s).ok
    assert stones == {said, command}
    assert receipt.body["scope"]["kind"] == "voice_last"
    assert receipt.body["counts"]["recordings"] == 2


def test_delete_everything_i_said_today(platform, device, speak):
    now = utcnow()
    old = upload(
        platform,
        device,
        speak("Alexa, what time is it", "en-gb"),
        captured_at=now - timedelta(days=2),
    )
    today = upload(
        platform,
        device,
        speak("Alexa, turn on the lights", "en-gb"),
        captured_at=now - timedelta(seconds=30),
    )
    upload(
        platform, device, speak("Alexa, delete everything I said today", "en-gb"), captured_at=now
    )
    run_jobs(platform)
    assert recording(platform, today) is not None
    run_after_undo(platform)
    assert recording(platform, old) is not None
    assert recording(platform, today) is None
    with platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Recording)) == 1


@pytest.mark.data
def test_alexa_clips_pass_and_reach_transcribed(platform, device, shared_data):
    clips = sorted((shared_data / "wakeword" / "alexa").glob("*.flac"))[:5]
    ids = []
    for clip in clips:
        ids.append(upload(platform, device, read_audio_file(clip).pcm))
    run_jobs(platform)
    states = [recording(platform, i).status for i in ids]
    assert states.count(Status.TRANSCRIBED) + states.count(Status.NO_SPEECH) >= 4


def test_long_speech_with_a_deletion_phrase_deletes_nothing(platform, device, speak):
    """A deletion phrase inside a longer sentence is refused by the guard, and the refusal audited."""
    now = utcnow()
    said = upload(
        platform,
        device,
        speak("Alexa, add eggs to my shopping list", "en-gb"),
        captured_at=now - timedelta(minutes=2),
    )
    story = "Alexa, yesterday my brother told me he would forget what I just said about the car"
    command = upload(platform, device, speak(story, "en-gb"), captured_at=now)
    run_jobs(platform)
    run_after_undo(platform)
    assert recording(platform, said) is not None and recording(platform, command) is not None
    with platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DeletionReceipt)) == 0
        actions = set(s.scalars(select(audit.AuditEvent.action)))
    assert "voice_delete.scheduled" not in actions


@pytest.mark.parametrize("tag_names", [True, False])
def test_the_pipeline_stores_the_tagger_s_names_and_serving_redacts_them_without_an_encoder(
    platform, device, speak, tag_names
):
    # A public figure by one name, which the rules miss: the job worker's tagger finds it once, the
    # sealed hypothesis keeps its span, and serving redacts it with no encoder loaded.
    from overheard.protect import _name_tagger
    from overheard.protect.redact import redact
    from overheard.protect.serving import OpenedText
    from overheard.speech import _minilm

    if not _name_tagger.available():
        pytest.skip("the packaged MiniLM weights are not installed")
    update = {"redaction_name_tagger": tag_names}
    platform.settings = platform.settings.model_copy(update=update)
    rid = upload(platform, device, speak("Alexa, what did trump tweet this morning", "en-gb"))
    run_jobs(platform)
    rec = recording(platform, rid)
    assert rec.status == Status.TRANSCRIBED, rec.status_reason
    with platform.sessions() as s:
        raw = platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t")
    hyp = json.loads(raw)
    assert "trump" in hyp["text"].lower()
    assert "trump" in redact(hyp["text"]).lower()  # the rules alone miss it
    _name_tagger._model.cache_clear()
    _minilm.sentence_encoder.cache_clear()
    staff = OpenedText(raw, ()).redacted()
    assert _name_tagger._model.cache_info().currsize == 0
    assert _minilm.sentence_encoder.cache_info().currsize == 0
    shown = [w.text.lower() for w in staff.words]
    if tag_names:
        assert "trump" not in staff.hypothesis.lower() and "[NAME]" in staff.hypothesis
        assert "[name]" in shown and not any("trump" in w for w in shown)
    else:  # a hypothesis sealed without names: the rules alone
        assert "names" not in hyp
        assert "trump" in staff.hypothesis.lower()
