"""A spoken deletion holds what it may name from the moment the device uploads it, not only once the
pipeline has understood it: while a clip of the household still waits for the pipeline, none of the
household's clips is claimed, served (audio or text) or submitted; once the command is understood,
what it names is withdrawn and the open page is told at once. Real speech through the real pipeline
(espeak-ng, openWakeWord, pocketsphinx), the device API and the review API of the ASGI app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.jobs import Job, claim, run_claimed
from overheard.recordings.ingest import PROCESS_JOB
from overheard.recordings.models import Recording, Status
from overheard.review.consent import set_human_review
from overheard.review.models import Annotation, ReviewTask, TaskState
from overheard.speech.audio import to_wav_bytes
from overheard.tasks import register_all

from .conftest import api_csrf

pytestmark = pytest.mark.slow

SAID = "Alexa, add eggs to my shopping list"
COMMAND = "Alexa, forget what I just said"
"""Voice and phrasing the pipeline's deletion tests pin for pocketsphinx (it obeys at once)."""
BEGAN = datetime.now(UTC)
"""Capture times count back from here: what a clip was captured after must not depend on how
long the pipeline took (the command names the clip captured last before it)."""


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Every clip sampled, single passes only; pocketsphinx, as the pipeline's deletion tests."""
    return settings.model_copy(
        update={
            "asr": "pocketsphinx",
            "review_sample_rate": 1.0,
            "review_double_share": 0.0,
            "review_gold_share": 0.0,
        }
    )


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_all()


@pytest.fixture(scope="module")
def speech():  # type: ignore[no-untyped-def]
    """Factory: ``text`` spoken by espeak-ng, as WAV bytes (cached per text)."""
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    made: dict[str, bytes] = {}

    def make(text: str) -> bytes:
        voice = "en+f4" if text == COMMAND else "en-gb"
        if text not in made:
            made[text] = to_wav_bytes(np.asarray(synthesise(text, voice)))
        return made[text]

    return make


@pytest.fixture
def home(platform, make_household):  # type: ignore[no-untyped-def]
    """A household that turned review on a day ago (before the clips, captured before the test
    began); its device token."""
    hh = make_household()
    with transaction(platform.sessions) as s:
        set_human_review(
            s, hh.household_id, True, actor="customer", now=datetime.now(UTC) - timedelta(days=1)
        )
    return hh


def upload(web: TestClient, token: str, wav: bytes, seconds_before: float) -> str:
    """The device sends a clip captured ``seconds_before`` the test began (its device API)."""
    captured = BEGAN - timedelta(seconds=seconds_before)
    headers = {"Authorization": f"Bearer {token}", "X-Captured-At": captured.isoformat()}
    answer = web.post("/api/v1/utterances", content=wav, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def hear(platform, recording_id: str) -> None:  # type: ignore[no-untyped-def]
    """A worker runs the pipeline job of ``recording_id`` (and the disguise it makes)."""
    with platform.sessions() as s:
        job_id = s.scalar(select(Job.id).where(Job.kind == PROCESS_JOB, Job.subject == recording_id))
    job = claim(platform.sessions, job_id=job_id)
    assert job is not None
    run_claimed(platform, job)
    with platform.sessions() as s:
        assert s.get(Recording, recording_id).status == Status.TRANSCRIBED.value


def claimed(web: TestClient) -> dict | None:  # type: ignore[type-arg]
    answer = web.post("/review/api/claim?with_task=true", headers=api_csrf(web))
    assert answer.status_code == 200, answer.text
    return answer.json()["task"]


def submitted(web: TestClient, lease_id: str):  # type: ignore[no-untyped-def]
    body = {"lease_id": lease_id, "transcript": "add eggs to my shopping list", "intent": "shopping"}
    return web.post("/review/api/submit", json=body, headers=api_csrf(web))


def task_state(platform, recording_id: str) -> str | None:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return s.scalar(select(ReviewTask.state).where(ReviewTask.recording_id == recording_id))


def annotations(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Annotation)) or 0)


def served(platform, recording_id: str) -> int:  # type: ignore[no-untyped-def]
    """``audio.serve`` and ``text.view`` events of a recording."""
    with platform.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.subject == recording_id,
                    AuditEvent.action.in_(("audio.serve", "text.view")),
                )
            )
            or 0
        )


def test_an_open_clip_is_held_from_the_upload_of_a_deletion_and_dropped_once_it_is_heard(
    platform, home, staff_client, speech
):
    """The reviewer has the clip open when the device uploads "forget what I just said": from that
    upload until the pipeline has heard it, the clip's audio, text and submit are refused (a clip
    that turns out to ask for nothing lets review go on); once heard, the lease is withdrawn and
    the page's event stream says so."""
    web, _ = staff_client("annotator")
    said = upload(web, home.device_token, speech(SAID), 120)
    hear(platform, said)
    task = claimed(web)
    assert task is not None and task["audio_url"]
    lease = task["lease_id"]
    assert web.get(task["audio_url"]).status_code == 200  # before anything else was said

    # An older clip arrives late (an offline device): held while unheard, served again once heard.
    other = upload(web, home.device_token, speech("Alexa, play some jazz"), 300)
    held = web.get(f"/review/api/task/{lease}")
    assert held.status_code == 503 and held.json()["error"]["code"] == "clip_held"
    assert int(held.headers["Retry-After"]) >= 1
    hear(platform, other)
    again = web.get(f"/review/api/task/{lease}")
    assert again.status_code == 200, again.text
    assert web.get(again.json()["audio_url"]).status_code == 200

    command = upload(web, home.device_token, speech(COMMAND), 60)
    before = served(platform, said)
    audio = web.get(again.json()["audio_url"])
    assert audio.status_code == 503 and audio.json()["error"]["code"] == "clip_held"
    assert web.get(f"/review/api/task/{lease}").status_code == 503
    refused = submitted(web, lease)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "clip_held"
    assert served(platform, said) == before and annotations(platform) == 0
    assert task_state(platform, said) == TaskState.LEASED.value  # the lease is still theirs

    hear(platform, command)  # "forget what I just said": scheduled with its undo period
    assert task_state(platform, said) == TaskState.WITHDRAWN.value
    web.app.state.workbench_events_stream_s = 0.3
    told = web.get(f"/review/events/{lease}").text
    assert f'event: ended\ndata: {{"why": "withdrawn", "lease_id": "{lease}"}}' in told
    assert web.get(again.json()["audio_url"]).status_code == 409
    assert submitted(web, lease).status_code == 409
    assert annotations(platform) == 0 and served(platform, said) == before


@pytest.mark.parametrize(
    "order",
    ["clip_heard_first", "clip_uploaded_after_the_command", "command_heard_first"],
)
def test_a_clip_sampled_around_an_unheard_deletion_is_never_claimed(
    platform, home, staff_client, speech, order
):
    """Whatever order the device sends them and workers hear them in, the clip "forget what I just
    said" names is never leased: while the command waits for the pipeline, nothing of the
    household is claimed; once it is heard, the clip's task is withdrawn (or was never made)."""
    web, _ = staff_client("annotator")
    if order == "clip_uploaded_after_the_command":  # the clip was held back on the device
        command = upload(web, home.device_token, speech(COMMAND), 60)
        said = upload(web, home.device_token, speech(SAID), 120)
    else:
        said = upload(web, home.device_token, speech(SAID), 120)
        command = upload(web, home.device_token, speech(COMMAND), 60)
    first, second = (command, said) if order == "command_heard_first" else (said, command)
    hear(platform, first)
    assert claimed(web) is None
    hear(platform, second)
    assert claimed(web) is None
    assert task_state(platform, said) in (None, TaskState.WITHDRAWN.value)
    assert served(platform, said) == 0 and annotations(platform) == 0
