"""The emergency policy in code: the queue, time-boxed cases, serving under a case, notes, audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from overheard import jobs
from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.errors import BadRequest, Conflict, NotFound
from overheard.jobs import JobState
from overheard.privacy import emergency
from overheard.protect import _cache, rendition, serving
from overheard.protect._tables import Watermark
from overheard.recordings import voice_delete
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import Recording, Status
from overheard.review import hooks as review_hooks
from overheard.review.consent import set_human_review
from overheard.review.sampler import DISGUISE_JOB
from tests.privacy._world import add_clip, claim, later, sample, submit
from tests.privacy.conftest import POLICY, SAID


def open_case(platform, report_id: str, officer: str = "P-1", at: float = 30):  # type: ignore[no-untyped-def]
    with transaction(platform.sessions) as s:
        return emergency.open_case(s, report_id, officer, POLICY, later(at))


def test_the_queue_shows_pseudonym_time_and_deadlines(platform, flagged):  # type: ignore[no-untyped-def]
    _clip, lease, report_id = flagged
    with platform.sessions() as s:
        (item,) = emergency.queue(s, POLICY, later(20))
        (late,) = emergency.overdue(s, POLICY, later(10 + 3601))
    assert (item.task_pseudonym, item.flagged_at, item.state) == (
        lease.task.pseudonym,
        later(10),
        "open",
    )
    assert not item.overdue and late.report_id == report_id


def test_a_case_serves_the_disguised_clip_and_redacted_texts(platform, flagged):  # type: ignore[no-untyped-def]
    clip, _lease, report_id = flagged
    case = open_case(platform, report_id)
    assert open_case(platform, report_id, at=40).id == case.id  # the live case is reused
    out = emergency.clip_for_case(platform, case_id=case.id, officer="P-1", now=later(50))
    text = emergency.text_for_case(platform, case_id=case.id, officer="P-1", now=later(50))
    assert text.hypothesis == text.earlier[0] == "help my name is [NAME] call [PHONE]"
    with platform.sessions() as s:
        mark = s.get(Watermark, out.watermark_id)
        actions = {e.action: e for e in s.scalars(select(AuditEvent)).all()}
    assert mark is not None and (mark.grant_kind, mark.grant_id, mark.staff) == (
        "case",
        case.id,
        "P-1",
    )
    assert actions["privacy.emergency.open_case"].household_id == clip.household_id
    assert actions["audio.serve"].actor == "P-1"
    for officer, when in [("P-2", later(60)), ("P-1", later(30 + 601))]:
        with pytest.raises(NotFound):
            emergency.clip_for_case(platform, case_id=case.id, officer=officer, now=when)


def test_closing_needs_a_note_and_ends_every_case(platform, flagged):  # type: ignore[no-untyped-def]
    _clip, _lease, report_id = flagged
    case = open_case(platform, report_id)
    with transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "acknowledge", "", later(40))
    with pytest.raises(BadRequest), transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "close", "  ", later(50))
    with transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "close", "No risk to anyone; nothing to do.", later(50))
    with pytest.raises(NotFound):
        emergency.clip_for_case(platform, case_id=case.id, officer="P-1", now=later(60))
    with platform.sessions() as s:
        assert emergency.queue(s, POLICY, later(60)) == []
        history = [a.action for a in emergency.actions_of(s, platform.keyring, report_id)]
    assert history == ["open_case", "acknowledge", "close"]
    with pytest.raises(Conflict), transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "close", "again", later(70))


def test_withdrawn_consent_or_deletion_ends_access(platform, flagged):  # type: ignore[no-untyped-def]
    clip, _lease, report_id = flagged
    case = open_case(platform, report_id)
    with transaction(platform.sessions) as s:
        set_human_review(s, clip.household_id, False, actor="customer", now=later(40))
    with pytest.raises(NotFound):
        emergency.clip_for_case(platform, case_id=case.id, officer="P-1", now=later(50))
    delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    with pytest.raises(Conflict):
        open_case(platform, report_id, officer="P-2", at=60)
    with platform.sessions() as s:
        (item,) = emergency.queue(s, POLICY, later(60))
    assert item.recording_deleted


def _say_delete_that(platform, clip, at: float) -> Recording:  # type: ignore[no-untyped-def]
    """A recording of ``clip``'s household, captured ``at`` seconds after T0, asking "delete that"
    (held for a yes: the voice deletion is pending)."""
    with transaction(platform.sessions) as s:
        said = s.get_one(Recording, clip.recording_id)
        command = Recording(
            id=uuid.uuid4().hex,
            household_id=said.household_id,
            device_id=said.device_id,
            captured_at=later(at),
            received_at=later(at),
            duration_s=1.0,
            source_rate_hz=16000,
            source_format="WAV/PCM_16",
            status=Status.TRANSCRIBED.value,
        )
        s.add(command)
    voice_delete.ask(platform, command, "delete_last")
    return command


def test_a_pending_voice_deletion_keeps_the_clip_from_a_case(platform, flagged):  # type: ignore[no-untyped-def]
    """While the household's "delete that" may name the flagged clip, no officer opens a case on
    it nor hears or reads it under one already open (409 ``excluded``, as a lead's actions)."""
    clip, _lease, report_id = flagged
    case = open_case(platform, report_id)
    _say_delete_that(platform, clip, at=35)
    for serve in (emergency.clip_for_case, emergency.text_for_case):
        with pytest.raises(Conflict) as refused:
            serve(platform, case_id=case.id, officer="P-1", now=later(40))
        assert refused.value.code == "excluded"
    with pytest.raises(Conflict) as refused:
        open_case(platform, report_id, officer="P-2", at=40)
    assert refused.value.code == "excluded"
    with platform.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent)).all()]
    assert "audio.serve" not in actions and "text.view" not in actions
    assert actions.count("privacy.emergency.open_case") == 1
    # once the question lapsed unanswered (no yes), the clip is there for a case again
    lapsed = 35 + platform.settings.voice_delete_confirm_s + 1
    assert open_case(platform, report_id, officer="P-2", at=lapsed).officer == "P-2"


def _rendition_version(platform, recording_id: str) -> int | None:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return _cache.stored_version(s, recording_id)


def test_an_officer_hears_a_clip_flagged_sensitive_too(platform, make_household):  # type: ignore[no-untyped-def]
    """Emergency and ``sensitive`` on one clip: the flag removes the disguised rendition, and the
    officer's case gets it made again (the policy lets the officer hear the clip, so the case does
    not answer "preparing" for ever); closing the report removes it again, for good."""
    serving.install(platform)
    review_hooks.register()
    clip = add_clip(platform, make_household, hypothesis=SAID)
    sample(platform, clip)
    lease = claim(platform, "R-a1")
    submit(platform, lease, "R-a1", SAID, "emergency", "sensitive", now=later(10))
    with platform.sessions() as s:
        (item,) = emergency.queue(s, POLICY, later(20))
    assert _rendition_version(platform, clip.recording_id) is None  # the flag removed it
    case = open_case(platform, item.report_id)
    with pytest.raises(rendition.AudioPreparing):
        emergency.clip_for_case(platform, case_id=case.id, officer="P-1", now=later(40))
    assert jobs.run_now(platform, DISGUISE_JOB, clip.recording_id) is JobState.DONE
    out = emergency.clip_for_case(platform, case_id=case.id, officer="P-1", now=later(50))
    assert out.duration_s > 0
    with transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, item.report_id, "P-1", "close", "No risk: a film was playing.", later(60))
    assert _rendition_version(platform, clip.recording_id) is None
    rendition.request(platform, clip.recording_id)  # a late request stores nothing now
    assert jobs.run_now(platform, DISGUISE_JOB, clip.recording_id) is JobState.DONE
    assert _rendition_version(platform, clip.recording_id) is None
