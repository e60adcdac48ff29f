"""Voice deletions wait out a short undo period, shown on the dashboard with an Undo button."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.db import utcnow
from overheard.jobs import Job, claim, run_claimed
from overheard.recordings import voice_delete
from overheard.recordings.models import Recording
from tests._heard import heard, store_heard
from tests.accounts.conftest import START, submit
from tests.customer.conftest import add_recording


def said_then_forget(platform, owner):
    """A request, then "forget what I just said" a minute later, scheduled at START."""
    said = add_recording(
        platform, owner.device_id, "add eggs to my list", at=START - timedelta(minutes=1)
    )
    command = add_recording(
        platform, owner.device_id, "forget what i just said", intent="delete_last", at=START
    )
    voice_delete.schedule(platform, command, "delete_last", now=START)
    return said.id, command.id


def run_due(platform, after_s: float) -> None:
    """Run the voice-deletion jobs due ``after_s`` after START (the pipeline's own jobs stay)."""
    when = START + timedelta(seconds=after_s)
    with platform.sessions() as s:
        kinds = list(voice_delete.JOB_KINDS.values())
        ids = list(s.scalars(select(Job.id).where(Job.kind.in_(kinds))))
    for job_id in ids:
        if (job := claim(platform.sessions, job_id=job_id, now=when)) is not None:
            run_claimed(platform, job)


def exists(platform, rid: str) -> bool:
    with platform.sessions() as s:
        return s.get(Recording, rid) is not None


def test_deletion_waits_for_the_undo_period_then_happens(platform, owner):
    voice_delete.register()
    said, command = said_then_forget(platform, owner)
    run_due(platform, platform.settings.voice_delete_undo_s - 1)
    assert exists(platform, said) and exists(platform, command)
    page = owner.client.get("/me")
    assert "Deletions you asked for by voice" in page.text and "Undo" in page.text
    run_due(platform, platform.settings.voice_delete_undo_s + 1)
    assert not exists(platform, said) and not exists(platform, command)
    assert "Deletions you asked for by voice" not in owner.client.get("/me").text


def test_undo_keeps_the_recordings_and_is_audited(platform, owner):
    voice_delete.register()
    said, command = said_then_forget(platform, owner)
    with platform.sessions() as s:
        [pending] = voice_delete.pending(s, owner.household_id)
    undone = submit(owner.client, "/me", f"/me/voice-deletions/{pending.job_id}/undo")
    assert undone.status_code == 303
    assert "Undone: that voice deletion will not happen." in owner.client.get(undone.headers["location"]).text
    run_due(platform, 3600)
    assert exists(platform, said) and exists(platform, command)
    with platform.sessions() as s:
        assert s.get(Job, pending.job_id).state == voice_delete.CANCELLED
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.subject == command)))
    assert "voice_delete.scheduled" in actions and "voice_delete.undone" in actions
    again = submit(owner.client, "/me", f"/me/voice-deletions/{pending.job_id}/undo")
    assert again.status_code == 409 and again.json()["error"]["code"] == "too_late"


def test_undo_after_the_deletion_is_refused(platform, owner):
    voice_delete.register()
    said_then_forget(platform, owner)
    with platform.sessions() as s:
        [pending] = voice_delete.pending(s, owner.household_id)
    run_due(platform, platform.settings.voice_delete_undo_s + 1)
    late = submit(owner.client, "/me", f"/me/voice-deletions/{pending.job_id}/undo")
    assert late.status_code in (404, 409)


def test_another_household_cannot_undo(platform, make_owner):
    voice_delete.register()
    first, second = make_owner(), make_owner()
    said, _ = said_then_forget(platform, first)
    with platform.sessions() as s:
        [pending] = voice_delete.pending(s, first.household_id)
    refused = submit(second.client, "/me", f"/me/voice-deletions/{pending.job_id}/undo")
    assert refused.status_code == 404
    run_due(platform, platform.settings.voice_delete_undo_s + 1)
    assert not exists(platform, said)


def test_no_undo_period_deletes_at_once(platform, owner):
    platform.settings = platform.settings.model_copy(update={"voice_delete_undo_s": 0.0})
    said, command = said_then_forget(platform, owner)
    assert not exists(platform, said) and not exists(platform, command)


def ask_delete_that(platform, owner):
    """A request, then "delete that" a minute later, held for a spoken yes (asked at START)."""
    said = add_recording(
        platform, owner.device_id, "add eggs to my list", at=START - timedelta(minutes=1)
    )
    command = add_recording(
        platform, owner.device_id, "delete that", intent="delete_last", at=START
    )
    voice_delete.ask(platform, command, "delete_last")
    return said.id, command


def test_an_asked_deletion_without_a_yes_never_happens(platform, owner):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    late = add_recording(
        platform,
        owner.device_id,
        "yes",
        at=START + timedelta(seconds=platform.settings.voice_delete_confirm_s + 1),
    )
    assert voice_delete.answer(platform, late, now=late.captured_at) is None
    run_due(platform, 3600)
    assert exists(platform, said) and exists(platform, command.id)


def test_a_yes_in_time_schedules_the_asked_deletion_with_its_undo(platform, owner):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    yes = add_recording(platform, owner.device_id, "yes", at=START + timedelta(seconds=4))
    assert voice_delete.answer(platform, yes, now=yes.captured_at) == command.id
    assert voice_delete.answer(platform, yes, now=yes.captured_at) is None  # answered once only
    run_due(platform, 4 + platform.settings.voice_delete_undo_s - 1)
    assert exists(platform, said)
    run_due(platform, 4 + platform.settings.voice_delete_undo_s + 1)
    assert not exists(platform, said) and not exists(platform, command.id)
    with platform.sessions() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.index("voice_delete.asked") < actions.index("voice_delete.confirmed")


def test_an_unclear_answer_asks_once_more_and_a_yes_then_confirms(platform, owner):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    window_s = platform.settings.voice_delete_confirm_s
    unclear = add_recording(platform, owner.device_id, "yes", at=START + timedelta(seconds=8))
    assert voice_delete.reask(platform, unclear) == command.id
    again = add_recording(platform, owner.device_id, "you", at=START + timedelta(seconds=12))
    assert voice_delete.reask(platform, again) is None  # asked once more at most
    # past the first deadline (START + window_s), within the one the question asked again set
    yes = add_recording(
        platform, owner.device_id, "yes please", at=START + timedelta(seconds=8 + window_s - 1)
    )
    assert voice_delete.answer(platform, yes, now=yes.captured_at) == command.id
    run_due(platform, 8 + window_s - 1 + platform.settings.voice_delete_undo_s + 1)
    assert not exists(platform, said)
    with platform.sessions() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.index("voice_delete.asked") < actions.index("voice_delete.reasked")
    assert actions.index("voice_delete.reasked") < actions.index("voice_delete.confirmed")


def test_asking_once_more_does_not_outlast_its_own_deadline(platform, owner):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    window_s = platform.settings.voice_delete_confirm_s
    unclear = add_recording(platform, owner.device_id, "yes", at=START + timedelta(seconds=2))
    assert voice_delete.reask(platform, unclear) == command.id
    late = add_recording(
        platform, owner.device_id, "yes", at=START + timedelta(seconds=2 + window_s + 1)
    )
    assert voice_delete.answer(platform, late, now=late.captured_at) is None
    run_due(platform, 3600)
    assert exists(platform, said) and exists(platform, command.id)


def test_the_pipeline_gives_an_unclear_answer_a_second_question_and_a_sure_yes_the_deletion(
    platform, owner
):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    window_s = platform.settings.voice_delete_confirm_s
    answers = [("play jazz", 0.9, 4), ("yes", 0.05, 8), ("yes please", 0.9, 8 + window_s - 1)]
    for text, confidence, second in answers:
        rec = add_recording(platform, owner.device_id, text, at=START + timedelta(seconds=second))
        store_heard(platform, rec.id, heard(text, confidence))
        with platform.sessions() as s:
            actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        if text == "play jazz":  # neither an answer nor worth asking again: the question waits
            assert "voice_delete.reasked" not in actions
            assert "voice_delete.confirmed" not in actions
        elif text == "yes":  # heard, but too unsure to delete on: asked once more
            assert "voice_delete.reasked" in actions
            assert "voice_delete.confirmed" not in actions
        else:  # past the first deadline, inside the one the second question set
            assert actions.index("voice_delete.reasked") < actions.index("voice_delete.confirmed")
    # the pipeline confirms at the time it runs (now), and the undo period runs from then
    undone_at = (utcnow() - START).total_seconds() + platform.settings.voice_delete_undo_s
    run_due(platform, undone_at - 5)
    assert exists(platform, said)
    run_due(platform, undone_at + 5)
    assert not exists(platform, said) and not exists(platform, command.id)


def test_a_spoken_no_is_final_and_shown_to_the_household(platform, owner):
    voice_delete.register()
    said, command = ask_delete_that(platform, owner)
    answers = [("no", 0.9, 4), ("yes", 0.05, 6), ("yes please", 0.95, 8)]  # all in time
    for text, confidence, second in answers:
        rec = add_recording(platform, owner.device_id, text, at=START + timedelta(seconds=second))
        store_heard(platform, rec.id, heard(text, confidence))
    run_due(platform, 3600)
    assert exists(platform, said) and exists(platform, command.id)
    with platform.sessions() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.count("voice_delete.declined") == 1
    assert "voice_delete.reasked" not in actions and "voice_delete.confirmed" not in actions
    page = owner.client.get("/me/access").text
    assert "heard your no: the spoken deletion request was dropped, nothing deleted" in page
    assert "asked whether to carry out a spoken deletion request" in page
    assert "voice_delete." not in page  # in words, not codes
    assert f"#rec-{command.id}" in page  # the command it was about, linked
