"""A spoken deletion's pipeline job killed (SIGKILL) just after the commit that stores the command's
transcript: the deletion is asked about or scheduled, and what it names held from review, exactly
once, whether or not the job is retried. The same for a spoken answer to a deletion question,
killed just after the commit that stores it: the yes confirms, the no cancels, exactly once.

A child process runs the real pipeline job (espeak-ng speech, openWakeWord, pocketsphinx) on the
test's database and data folder and kills itself as that commit returns; the parent then retries
the job as a worker would once the lease has expired.
"""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from overheard.audit import AuditEvent
from overheard.config import Settings
from overheard.db import utcnow
from overheard.jobs import Job, JobState, claim, run_claimed
from overheard.recordings import voice_delete
from overheard.recordings.ingest import PROCESS_JOB, ingest
from overheard.recordings.models import DeletionReceipt, Recording, Status
from overheard.recordings.voice_prompt import tell
from overheard.review import hooks
from overheard.review.models import ReviewTask, TaskState
from overheard.speech.audio import to_wav_bytes
from overheard.tasks import register_all
from tests._crash import killed_child

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import json, sys
    from overheard.config import Settings
    from overheard.jobs import claim, run_claimed
    from overheard.platform import Platform
    from overheard.recordings.models import Recording
    from overheard.tasks import register_all
    from tests._crash import kill_after_commit

    data_dir, database_url, job_id, recording_id, stored, overrides = sys.argv[1:]
    settings = Settings(
        data_dir=data_dir, database_url=database_url, workers=1, **json.loads(overrides),
    ).resolved()
    platform = Platform.open(settings)
    register_all()

    kill_after_commit(platform.sessions, lambda session: any(
        isinstance(row, Recording) and row.id == recording_id and row.status == stored
        for row in session.dirty
    ))
    job = claim(platform.sessions, job_id=job_id, lease_s=settings.job_lease_s)
    assert job is not None
    run_claimed(platform, job)
    sys.exit(3)  # never reached: killed at the point
    """
)
COMMAND = "Alexa, forget what I just said"
"""Voice and phrasing the pipeline's deletion tests pin for pocketsphinx (obeyed at once, unless
``voice_delete_confirm`` is ``always``)."""


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"asr": "pocketsphinx"})


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_all()


@pytest.fixture(scope="module")
def speak():  # type: ignore[no-untyped-def]
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return lambda text, voice: to_wav_bytes(synthesise(text, voice))


def _process_job(platform, recording_id: str) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return str(
            s.scalar(select(Job.id).where(Job.kind == PROCESS_JOB, Job.subject == recording_id))
        )


def _killed_after_the_transcript(platform, recording_id: str, stored: str = "transcribed") -> None:  # type: ignore[no-untyped-def]
    """Run the recording's pipeline job in a child that is SIGKILLed as the commit that stores the
    recording with status ``stored`` returns."""
    settings = platform.settings
    overrides = {k: getattr(settings, k) for k in ("asr", "voice_delete_confirm",
                                                   "voice_delete_undo_s", "voice_delete_confirm_s")}  # fmt: skip
    killed_child(CHILD, str(settings.data_dir), settings.database_url,
                 _process_job(platform, recording_id), recording_id, stored, json.dumps(overrides))  # fmt: skip


def _retried(platform, recording_id: str) -> None:  # type: ignore[no-untyped-def]
    """A worker takes the killed job again once its lease has expired, and runs it."""
    expired = utcnow() + timedelta(seconds=platform.settings.job_lease_s + 1)
    job = claim(platform.sessions, job_id=_process_job(platform, recording_id), now=expired)
    assert job is not None and job.attempts == 2
    assert run_claimed(platform, job) == JobState.DONE


def _events(platform, action: str, subject: str) -> int:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.subject == subject)
            )
            or 0
        )


@pytest.mark.parametrize(
    ("confirm", "undo_s", "action", "state"),
    [
        ("unnamed", 30.0, "voice_delete.scheduled", JobState.QUEUED.value),
        ("always", 30.0, voice_delete.ASKED, voice_delete.AWAITING),
    ],
    ids=["scheduled", "asked"],
)
def test_a_command_killed_after_its_transcript_is_asked_or_scheduled_once_and_holds(
    platform, reviewing, device, speak, confirm, undo_s, action, state
):  # type: ignore[no-untyped-def]
    platform.settings = platform.settings.model_copy(
        update={"voice_delete_confirm": confirm, "voice_delete_undo_s": undo_s}
    )
    now = utcnow()
    said = ingest(platform, device, speak("Alexa, add eggs to my shopping list", "en-gb"),
                  captured_at=now - timedelta(minutes=2)).recording.id  # fmt: skip
    command = ingest(platform, device, speak(COMMAND, "en+f4"),
                     captured_at=now - timedelta(minutes=1)).recording.id  # fmt: skip
    job = claim(platform.sessions, job_id=_process_job(platform, said))
    assert job is not None and run_claimed(platform, job) == JobState.DONE
    with platform.sessions() as s:  # sampled: a reviewer could hear it
        assert s.scalar(select(ReviewTask.state).where(ReviewTask.recording_id == said)) == (
            TaskState.QUEUED.value
        )

    _killed_after_the_transcript(platform, command)
    with platform.sessions() as s:
        assert s.get_one(Recording, command).status == Status.TRANSCRIBED.value
    _retried(platform, command)

    with platform.sessions() as s:
        deletions = s.scalars(
            select(Job).where(Job.subject == command, Job.kind.in_(voice_delete.JOB_KINDS.values()))
        ).all()
        task = s.scalars(select(ReviewTask).where(ReviewTask.recording_id == said)).one()
    assert [(j.kind, j.state) for j in deletions] == [("voice.delete_last", state)]
    assert _events(platform, action, command) == 1
    assert task.state == TaskState.WITHDRAWN.value
    assert task.withdrawn_because == hooks.VOICE_DELETION


def test_a_command_without_undo_killed_after_its_transcript_is_carried_out_once(
    platform, device, speak
):  # type: ignore[no-untyped-def]
    """With ``voice_delete_undo_s = 0`` the deletion is due the moment the transcript commits: the
    job the killed worker never ran is run by the next one."""
    platform.settings = platform.settings.model_copy(update={"voice_delete_undo_s": 0.0})
    now = utcnow()
    said = ingest(platform, device, speak("Alexa, add eggs to my shopping list", "en-gb"),
                  captured_at=now - timedelta(minutes=2)).recording.id  # fmt: skip
    command = ingest(platform, device, speak(COMMAND, "en+f4"),
                     captured_at=now - timedelta(minutes=1)).recording.id  # fmt: skip
    job = claim(platform.sessions, job_id=_process_job(platform, said))
    assert job is not None and run_claimed(platform, job) == JobState.DONE

    _killed_after_the_transcript(platform, command)
    _retried(platform, command)
    while (due := claim(platform.sessions)) is not None:
        run_claimed(platform, due)

    with platform.sessions() as s:
        assert s.get(Recording, said) is None and s.get(Recording, command) is None
        assert s.scalar(select(func.count()).select_from(DeletionReceipt)) == 1
    assert _events(platform, "voice_delete.scheduled", command) == 1


@pytest.mark.parametrize(
    ("phrase", "stored", "state", "action"),
    [
        ("yes", Status.ACCIDENTAL.value, JobState.QUEUED.value, voice_delete.CONFIRMED),
        ("no", Status.ACCIDENTAL.value, voice_delete.CANCELLED, voice_delete.DECLINED),
    ],
    ids=["yes", "no"],
)
def test_an_answer_killed_after_it_is_stored_is_acted_on_once(
    platform, device, speak, phrase, stored, state, action
):  # type: ignore[no-untyped-def]
    """A wake-free answer, heard in the question's answer window: killed as the commit that stores
    it (accidental, answer only) returns, the yes or no it said still confirms or cancels."""
    platform.settings = platform.settings.model_copy(
        update={"voice_delete_confirm": "always", "voice_delete_confirm_s": 300.0,
                "voice_delete_undo_s": 30.0}
    )  # fmt: skip
    now = utcnow()
    command = ingest(platform, device, speak(COMMAND, "en+f4"),
                     captured_at=now - timedelta(minutes=2)).recording.id  # fmt: skip
    job = claim(platform.sessions, job_id=_process_job(platform, command))
    assert job is not None and run_claimed(platform, job) == JobState.DONE
    assert _deletion_state(platform, command) == voice_delete.AWAITING
    with platform.sessions() as s:
        asked = s.get_one(Recording, command)
    assert tell(platform, device.id, asked, now - timedelta(seconds=90)) is not None
    answer = ingest(platform, device, speak(phrase, "en-gb"),
                    captured_at=now - timedelta(seconds=60)).recording.id  # fmt: skip
    # The default recogniser hears a lone espeak "yes" or "no" (pocketsphinx does not).
    platform.settings = platform.settings.model_copy(update={"asr": Settings.model_fields["asr"].default})

    _killed_after_the_transcript(platform, answer, stored)
    with platform.sessions() as s:
        assert s.get_one(Recording, answer).status == stored
    _retried(platform, answer)

    assert _deletion_state(platform, command) == state
    assert _events(platform, action, command) == 1


def _deletion_state(platform, command_id: str) -> str:  # type: ignore[no-untyped-def]
    kinds = list(voice_delete.JOB_KINDS.values())
    with platform.sessions() as s:
        return str(s.scalars(select(Job.state).where(Job.subject == command_id,
                                                     Job.kind.in_(kinds))).one())  # fmt: skip
