"""A clear no to an asked voice deletion is final: the job is cancelled and audited once, a later yes
finds nothing, and the device's status stops showing the question (it shows "nothing was deleted"
once, on the no's own status). Answers go through the pipeline's answer path; statuses through the
device API of the ASGI app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.customer.access import access_page
from overheard.db import transaction
from overheard.jobs import Job, JobState, claim, pending_id, run_claimed
from overheard.recordings import voice_delete
from overheard.recordings.ingest import PROCESS_JOB
from overheard.recordings.models import Recording
from overheard.speech.questions import DECLINED, QUESTION, TOO_LATE
from tests._heard import heard, store_heard
from tests.conftest import tone_wav

CONFIRM_S = 300.0
"""A wide answer window, so that a loaded machine still answers in time."""


@pytest.fixture
def platform(platform):  # type: ignore[no-untyped-def]
    platform.settings = platform.settings.model_copy(update={"voice_delete_confirm_s": CONFIRM_S})
    return platform


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token: str, seconds_ago: float) -> str:  # type: ignore[no-untyped-def]
    captured = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    headers = {**auth(token), "X-Captured-At": captured.isoformat()}
    answer = client.post("/api/v1/utterances", content=tone_wav(0.5), headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def recording(platform, rid: str) -> Recording:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        rec = s.get(Recording, rid)
        s.expunge_all()
        return rec


def answered(platform, rid: str, text: str, confidence: float) -> None:  # type: ignore[no-untyped-def]
    """Recording ``rid`` heard as ``text`` (no command), through the pipeline's answer path."""
    store_heard(platform, rid, heard(text, confidence))


def prompt_of(client, token: str, rid: str):  # type: ignore[no-untyped-def]
    answer = client.get(f"/api/v1/utterances/{rid}", headers=auth(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["prompt"]


def voice_job(platform, command: str) -> Job:  # type: ignore[no-untyped-def]
    kinds = list(voice_delete.JOB_KINDS.values())
    with platform.sessions() as s:
        job = s.scalars(select(Job).where(Job.subject == command, Job.kind.in_(kinds))).one()
        s.expunge_all()
        return job


def events(platform, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
        return rows


def asked_then(client, platform, make_household, first: str):  # type: ignore[no-untyped-def]
    """A request, "delete that" held for a yes, then the answer ``first`` through the pipeline."""
    hh = make_household()
    said = upload(client, hh.device_token, 60)
    command = upload(client, hh.device_token, 3)
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    assert prompt_of(client, hh.device_token, command)["say"] == QUESTION["delete_last"]
    no = upload(client, hh.device_token, 2)
    answered(platform, no, first, 0.9)
    return hh, said, command, no


@pytest.mark.parametrize("no", ["no", "No.", "cancel", "no thanks"])
def test_a_no_then_a_yes_in_time_deletes_nothing(client, platform, make_household, no):
    voice_delete.register()
    hh, said, command, _ = asked_then(client, platform, make_household, no)
    yes = upload(client, hh.device_token, 1)
    answered(platform, yes, "yes please", 0.95)  # a sure yes, well inside the deadline
    assert events(platform, "voice_delete.confirmed") == []
    job = voice_job(platform, command)
    assert job.state == voice_delete.CANCELLED
    later = datetime.now(UTC) + timedelta(days=1)
    assert claim(platform.sessions, job_id=job.id, now=later) is None  # no worker ever runs it
    for rid in (said, command):
        assert recording(platform, rid) is not None


def test_a_no_heard_unsure_is_still_a_no(client, platform, make_household):
    hh = make_household()
    command = upload(client, hh.device_token, 3)
    voice_delete.ask(platform, recording(platform, command), "delete_today")
    no = upload(client, hh.device_token, 2)
    answered(platform, no, "no", 0.05)  # an unsure no is never asked about again: it is a no
    assert [e.subject for e in events(platform, "voice_delete.declined")] == [command]
    assert events(platform, "voice_delete.reasked") == []


def test_the_no_is_audited_once_by_the_device_that_heard_it(client, platform, make_household):
    hh, _, command, no = asked_then(client, platform, make_household, "no")
    again = upload(client, hh.device_token, 1)
    answered(platform, again, "no", 0.9)  # nothing waits any more: nothing more to decline
    [declined] = events(platform, "voice_delete.declined")
    assert (declined.actor, declined.subject) == (hh.device_id, command)
    assert (declined.household_id, declined.reason) == (hh.household_id, "delete_last")
    assert declined.details == {"answer": no}
    assert voice_job(platform, command).state == voice_delete.CANCELLED  # with the event


def test_the_device_stops_showing_the_question_and_says_nothing_was_deleted_once(
    client, platform, make_household
):
    hh, _, command, no = asked_then(client, platform, make_household, "no")
    assert prompt_of(client, hh.device_token, command) is None  # the question is over
    for _ in range(2):  # polled again and again: the same acknowledgement, told (audited) once
        said = prompt_of(client, hh.device_token, no)
        assert said["kind"] == "declined" and said["say"] == DECLINED["delete_last"]
        assert datetime.fromisoformat(said["answer_by"]) == recording(platform, no).captured_at
    told = [(e.reason, e.subject) for e in events(platform, "voice_delete.prompted")]
    assert told == [("question", command), ("declined", command)]
    kitchen = make_household()  # another household's device learns nothing of it
    assert client.get(f"/api/v1/utterances/{no}", headers=auth(kitchen.device_token)).status_code == 404


def test_the_acknowledgement_is_shown_only_for_the_answer_window(client, platform, make_household):
    from overheard.recordings.voice_prompt import prompt_about

    _, _, _, no = asked_then(client, platform, make_household, "no")
    rec = recording(platform, no)
    soon = datetime.now(UTC) + timedelta(seconds=CONFIRM_S / 2)
    with platform.sessions() as s:
        assert prompt_about(s, rec, soon, CONFIRM_S).kind == "declined"
        assert prompt_about(s, rec, soon + timedelta(seconds=CONFIRM_S), CONFIRM_S) is None


def test_a_no_is_not_outrun_by_a_later_yes_processed_first(client, platform, make_household):
    voice_delete.register()
    hh = make_household()
    said = upload(client, hh.device_token, 60)
    command = upload(client, hh.device_token, 4)
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    no, yes = upload(client, hh.device_token, 3), upload(client, hh.device_token, 2)
    answered(platform, yes, "yes please", 0.95)  # another worker got to the yes first
    assert [e.subject for e in events(platform, "voice_delete.confirmed")] == [command]
    answered(platform, no, "no", 0.9)
    assert voice_job(platform, command).state == voice_delete.CANCELLED
    [declined] = events(platform, "voice_delete.declined")
    assert declined.details == {"answer": no, "after_yes": yes}
    later = datetime.now(UTC) + timedelta(days=1)
    assert claim(platform.sessions, job_id=voice_job(platform, command).id, now=later) is None
    assert recording(platform, said) is not None


def yes_then(client, platform, make_household, no_after_s: float):  # type: ignore[no-untyped-def]
    """A request, "delete that" asked and confirmed by a yes; then a no captured ``no_after_s``
    seconds after the yes (the no not yet processed)."""
    voice_delete.register()
    hh = make_household()
    said = upload(client, hh.device_token, 60)
    command = upload(client, hh.device_token, 4)
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    yes = upload(client, hh.device_token, 3)
    answered(platform, yes, "yes please", 0.95)
    assert voice_job(platform, command).state == "queued"  # confirmed, in its undo period
    no = upload(client, hh.device_token, 3 - no_after_s)
    return hh, said, command, yes, no


def confirmed(client, platform, make_household):  # type: ignore[no-untyped-def]
    """A request, "delete that" asked and confirmed by a yes (nothing else uploaded)."""
    voice_delete.register()
    hh = make_household()
    said = upload(client, hh.device_token, 60)
    command = upload(client, hh.device_token, 4)
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    yes = upload(client, hh.device_token, 3)
    answered(platform, yes, "yes please", 0.95)
    return hh, said, command, yes


def heard_by_the_pipeline(platform, rid: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """A pipeline worker takes ``rid``'s job, hears ``text`` through the answer path, finishes."""
    with platform.sessions() as s:
        job_id = pending_id(s, PROCESS_JOB, rid)
    job = claim(platform.sessions, job_id=job_id)
    assert job is not None
    answered(platform, rid, text, 0.9)
    with transaction(platform.sessions) as s:
        s.get_one(Job, job.id).state = JobState.DONE.value


def test_without_an_undo_period_a_confirmed_deletion_waits_for_a_no_said_before_it(
    client, platform, make_household
):
    """The yes is processed first, the deletion is due at once and a worker runs it while the no
    (captured before the yes) still waits for the pipeline: it waits too, and the no cancels it."""
    platform.settings = platform.settings.model_copy(update={"voice_delete_undo_s": 0.0})
    hh = make_household()
    said = upload(client, hh.device_token, 60)
    command = upload(client, hh.device_token, 4)
    voice_delete.register()
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    no, yes = upload(client, hh.device_token, 3), upload(client, hh.device_token, 2)
    answered(platform, yes, "yes please", 0.95)  # another worker got to the yes first
    job = claim(platform.sessions, job_id=voice_job(platform, command).id)
    assert job is not None  # due at once: a worker has it
    assert run_claimed(platform, job) == JobState.QUEUED  # put back: the no is still unheard
    assert recording(platform, said) is not None
    assert voice_job(platform, command).attempts == 0  # waiting is not a failed attempt
    assert events(platform, voice_delete.STARTED) == []
    heard_by_the_pipeline(platform, no, "no")
    assert voice_job(platform, command).state == voice_delete.CANCELLED
    [declined] = events(platform, "voice_delete.declined")
    assert declined.details == {"answer": no, "after_yes": yes}
    assert claim(platform.sessions, job_id=job.id, now=datetime.now(UTC) + timedelta(days=1)) is None
    assert recording(platform, said) is not None and recording(platform, command) is not None
    told = prompt_of(client, hh.device_token, no)
    assert told["kind"] == "declined" and told["say"] == DECLINED["delete_last"]


def test_a_no_heard_while_a_worker_holds_the_deletion_before_it_started_cancels_it(
    client, platform, make_household
):
    platform.settings = platform.settings.model_copy(update={"voice_delete_undo_s": 0.0})
    hh, said, command, yes = confirmed(client, platform, make_household)
    job = claim(platform.sessions, job_id=voice_job(platform, command).id)
    assert job is not None  # claimed, not yet started
    no = upload(client, hh.device_token, 3.5)  # said before the yes
    answered(platform, no, "no", 0.9)
    assert events(platform, "voice_delete.too_late") == []
    [declined] = events(platform, "voice_delete.declined")
    assert declined.details == {"answer": no, "after_yes": yes}
    run_claimed(platform, job)  # the worker goes on: it finds the deletion cancelled
    assert voice_job(platform, command).state == voice_delete.CANCELLED
    assert recording(platform, said) is not None and recording(platform, command) is not None
    assert events(platform, voice_delete.STARTED) == []


def test_a_no_after_the_yes_cancels_the_confirmed_deletion_in_its_undo_period(
    client, platform, make_household
):
    hh, said, command, yes, no = yes_then(client, platform, make_household, 1)
    answered(platform, no, "no", 0.9)
    job = voice_job(platform, command)
    assert job.state == voice_delete.CANCELLED  # in the same transaction as the event
    [declined] = events(platform, "voice_delete.declined")
    assert (declined.actor, declined.subject, declined.reason) == (
        hh.device_id, command, "delete_last"
    )
    assert declined.details == {"answer": no, "after_yes": yes}
    later = datetime.now(UTC) + timedelta(days=1)
    assert claim(platform.sessions, job_id=job.id, now=later) is None  # never runs
    assert recording(platform, said) is not None
    said_now = prompt_of(client, hh.device_token, no)  # the device says nothing was deleted
    assert said_now["kind"] == "declined" and said_now["say"] == DECLINED["delete_last"]
    log = access_page(platform, hh.household_id, "nobody", before_seq=None, show="all").lines
    [line] = [x for x in log if x.what.startswith("heard your no")]
    assert line.recording_id == command and "nothing deleted" in line.what


def test_a_no_from_another_household_cancels_nothing(client, platform, make_household):
    hh, _, command, _, _ = yes_then(client, platform, make_household, 1)
    neighbour = make_household()
    their_no = upload(client, neighbour.device_token, 2)
    answered(platform, their_no, "no", 0.9)
    assert voice_job(platform, command).state == "queued"
    assert events(platform, "voice_delete.declined") == []
    own_no = upload(client, hh.device_token, 1)  # the household's own no still can
    answered(platform, own_no, "no", 0.9)
    assert voice_job(platform, command).state == voice_delete.CANCELLED


def test_a_no_captured_after_the_undo_period_cancels_nothing(client, platform, make_household):
    undo_s = platform.settings.voice_delete_undo_s
    voice_delete.register()
    hh = make_household()
    command = upload(client, hh.device_token, undo_s + 120)
    voice_delete.ask(platform, recording(platform, command), "delete_last")
    yes = upload(client, hh.device_token, undo_s + 110)
    processed = datetime.now(UTC) - timedelta(seconds=undo_s + 100)  # its undo period is over
    assert voice_delete.answer(platform, recording(platform, yes), now=processed) == command
    # captured after the undo period ran out, before any worker got to the deletion
    late = upload(client, hh.device_token, 60)
    answered(platform, late, "no", 0.9)
    assert voice_job(platform, command).state == "queued"
    assert events(platform, "voice_delete.declined") == []
    in_time = upload(client, hh.device_token, undo_s + 105)  # in the period, processed later
    answered(platform, in_time, "no", 0.9)
    assert voice_job(platform, command).state == voice_delete.CANCELLED
    [declined] = events(platform, "voice_delete.declined")
    assert declined.details == {"answer": in_time, "after_yes": yes}


@pytest.mark.parametrize("undo_s", [None, 0.0])
def test_a_no_after_the_deletion_started_undoes_nothing_and_the_device_says_so(
    client, platform, make_household, undo_s
):
    """Started by a worker within the undo period, or (undo period 0) carried out at once, before
    the no (captured before the yes) reached the server."""
    if undo_s is not None:
        platform.settings = platform.settings.model_copy(update={"voice_delete_undo_s": undo_s})
    hh, said, command, _ = confirmed(client, platform, make_household)
    later = datetime.now(UTC) + timedelta(days=1)
    started = claim(platform.sessions, job_id=voice_job(platform, command).id, now=later)
    assert started is not None
    if undo_s == 0.0:
        run_claimed(platform, started)
        assert recording(platform, said) is None  # deleted: no undo period
    else:  # started (nothing of the household waits to be heard), not finished
        assert voice_delete._clear_to_start(platform, "delete_last", command)
    [began] = events(platform, voice_delete.STARTED)
    assert (began.actor, began.subject, began.reason) == (hh.device_id, command, "delete_last")
    no = upload(client, hh.device_token, 3.5)  # said before the yes, uploaded late
    answered(platform, no, "no", 0.9)
    if undo_s is None:
        assert voice_job(platform, command).state == "running"
    assert events(platform, "voice_delete.declined") == []
    [late] = events(platform, "voice_delete.too_late")
    assert (late.actor, late.subject, late.reason) == (hh.device_id, command, "delete_last")
    assert late.details == {"answer": no}
    told = prompt_of(client, hh.device_token, no)  # not "nothing was deleted": the truth
    assert told["kind"] == "too_late" and told["say"] == TOO_LATE["delete_last"]
    log = access_page(platform, hh.household_id, "nobody", before_seq=None, show="all").lines
    assert any(line.what.startswith("heard your no after the spoken deletion") for line in log)
