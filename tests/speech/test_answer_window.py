"""The answer window: while a voice-deletion question waits for the device that was told it, that
device's next clip may lack the wake word; the pipeline then uses it only as the answer (real
models on espeak-ng speech, through the pipeline job)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.customer.access import access_page
from overheard.db import transaction, utcnow
from overheard.households import Device, add_device
from overheard.jobs import Job, claim, run_claimed
from overheard.recordings import voice_delete
from overheard.recordings.ingest import ingest
from overheard.recordings.models import Recording, SealedText, Status
from overheard.recordings.voice_prompt import tell
from overheard.review.consent import set_human_review
from overheard.review.models import ReviewTask
from overheard.speech import pipeline
from overheard.speech.answer_window import ANSWER_ONLY, WINDOW_USED
from overheard.speech.audio import to_wav_bytes
from tests.conftest import tone_wav

pytestmark = pytest.mark.slow

CONFIRM_S = 300.0
"""A wide answer window, so that a loaded machine still answers in time."""


@pytest.fixture(autouse=True)
def _registered():
    pipeline.register()


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Every transcribed clip of an opted-in household sampled for review; a wide answer window;
    accidental wakes' audio kept an hour."""
    update = {
        "review_sample_rate": 1.0,
        "voice_delete_confirm_s": CONFIRM_S,
        "accidental_retention_s": 3600.0,
    }
    return settings.model_copy(update=update)


@pytest.fixture(scope="session")
def speak():
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise


def device_of(platform, device_id: str) -> Device:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        device = s.get_one(Device, device_id)
        s.expunge_all()
        return device


@pytest.fixture
def home(platform, make_household):  # type: ignore[no-untyped-def]
    """An opted-in household's hall device, its kitchen device, and a neighbour's device."""
    hh, neighbour = make_household(), make_household()
    with transaction(platform.sessions) as s:
        earlier = utcnow() - timedelta(days=1)  # consent covers what is recorded after it
        set_human_review(s, hh.household_id, True, actor="customer", now=earlier)
        set_human_review(s, neighbour.household_id, True, actor="customer", now=earlier)
        kitchen, _ = add_device(s, hh.household_id)
        kitchen_id = kitchen.id
    ids = (hh.device_id, kitchen_id, neighbour.device_id)
    return tuple(device_of(platform, i) for i in ids)


def upload(platform, device: Device, pcm: np.ndarray | bytes, at: datetime) -> str:  # type: ignore[no-untyped-def]
    body = pcm if isinstance(pcm, bytes) else to_wav_bytes(pcm)
    return ingest(platform, device, body, captured_at=at).recording.id


def run_jobs(platform) -> None:  # type: ignore[no-untyped-def]
    while (job := claim(platform.sessions)) is not None:
        run_claimed(platform, job)


def recording(platform, rid: str) -> Recording:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        rec = s.get_one(Recording, rid)
        s.expunge_all()
        return rec


def asked(platform, hall: Device, at: datetime, *, told: bool = True) -> str:  # type: ignore[no-untyped-def]
    """ "Delete that" heard by ``hall`` at ``at``, held for a yes; the question told to ``hall``."""
    command = upload(platform, hall, tone_wav(0.5), at)
    run_jobs(platform)  # the command's own clip (a tone) is processed first
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    if told:
        assert tell(platform, hall.id, recording(platform, command), utcnow()) is not None
    return command


def state(platform, command: str) -> str:  # type: ignore[no-untyped-def]
    kinds = list(voice_delete.JOB_KINDS.values())
    with platform.sessions() as s:
        return s.scalars(select(Job.state).where(Job.subject == command, Job.kind.in_(kinds))).one()


def events(platform, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
        return rows


def kept_nothing(platform, rid: str) -> bool:  # type: ignore[no-untyped-def]
    """No transcript or intent sealed, no review task, the audio gone."""
    with platform.sessions() as s:
        texts = list(s.scalars(select(SealedText.kind).where(SealedText.recording_id == rid)))
        tasks = list(s.scalars(select(ReviewTask.id).where(ReviewTask.recording_id == rid)))
    return texts == [] and tasks == [] and recording(platform, rid).audio_blob is None


def test_a_wake_free_no_from_the_asked_device_is_heard_only_as_the_answer(platform, home, speak):
    hall, kitchen, neighbour = home
    now = utcnow()
    command = asked(platform, hall, now - timedelta(seconds=20))
    no = speak("no", "en-gb")
    others = [upload(platform, kitchen, no, now - timedelta(seconds=15)),  # same household
              upload(platform, neighbour, no, now - timedelta(seconds=14))]  # another household
    run_jobs(platform)
    assert state(platform, command) == voice_delete.AWAITING  # neither is an answer
    for rid in others:  # accidental wakes exactly as before: never recognised
        assert recording(platform, rid).status == Status.ACCIDENTAL
        assert recording(platform, rid).status_reason is None
        assert recording(platform, rid).audio_blob is not None  # kept for the retention
    assert events(platform, WINDOW_USED) == []

    answer = upload(platform, hall, no, now - timedelta(seconds=10))
    run_jobs(platform)
    assert state(platform, command) == voice_delete.CANCELLED
    [declined] = events(platform, "voice_delete.declined")
    assert (declined.actor, declined.subject, declined.details) == (
        hall.id, command, {"answer": answer}
    )
    rec = recording(platform, answer)
    assert (rec.status, rec.status_reason) == (Status.ACCIDENTAL, ANSWER_ONLY)
    assert kept_nothing(platform, answer)  # never sampled for review, nothing of it kept
    [used] = events(platform, WINDOW_USED)
    assert (used.subject, used.reason, used.household_id) == (command, "no", hall.household_id)
    assert used.details["answer"] == answer and used.details["about"] == command
    log = access_page(platform, hall.household_id, "nobody", before_seq=None, show="all").lines
    [line] = [x for x in log if "without the wake word" in x.what]
    assert (line.why, line.recording_id) == ("it said no", command)  # in words, linked
    purged = [e for e in events(platform, "recordings.purge_audio") if e.subject == answer]
    assert len(purged) == 1  # at once, whatever accidental_retention_s says


def test_a_wake_free_yes_counts_only_inside_the_window_of_a_told_question(platform, home, speak):
    hall, _, _ = home
    # Every capture time in the past (the server takes a later one for the receipt's), the
    # question's deadline included, so that a yes can be captured after it.
    t0 = utcnow() - timedelta(seconds=CONFIRM_S + 100)
    command = asked(platform, hall, t0, told=False)
    yes = speak("yes", "en-gb")
    untold = upload(platform, hall, yes, t0 + timedelta(seconds=5))  # before it was told
    run_jobs(platform)
    assert state(platform, command) == voice_delete.AWAITING
    assert recording(platform, untold).status_reason is None
    told_at = t0 + timedelta(seconds=8)
    assert tell(platform, hall.id, recording(platform, command), told_at) is not None
    late = t0 + timedelta(seconds=CONFIRM_S + 5)  # past answer_by
    too_late = upload(platform, hall, yes, late)
    run_jobs(platform)
    assert state(platform, command) == voice_delete.AWAITING
    assert recording(platform, too_late).status_reason is None
    assert events(platform, WINDOW_USED) == []

    answer = upload(platform, hall, yes, t0 + timedelta(seconds=10))
    run_jobs(platform)
    assert state(platform, command) == "queued"  # confirmed: scheduled with its undo period
    [confirmed] = events(platform, "voice_delete.confirmed")
    assert confirmed.details["answer"] == answer
    [used] = events(platform, WINDOW_USED)
    assert (used.subject, used.reason) == (command, "yes")
    assert kept_nothing(platform, answer)
