"""Opening an earlier export for training leaves out what has left training use since it was
sealed: a household that turned review off, a clip a later annotation flagged ``sensitive``."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from overheard.db import transaction
from overheard.learn.export import export_sealed, open_for_training
from overheard.review.annotations import submit
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.lead import ask_second
from overheard.review.models import Annotation
from overheard.review.policy import Flag
from overheard.review.queue import claim
from tests.learn.conftest import POLICY
from tests.review.conftest import T0

LATER = T0 + timedelta(days=1)


def _opened_texts(run) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted((run / "kaldi" / "text").read_text().splitlines())


def _everything_in(run) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())


def test_a_household_that_turned_review_off_is_left_out_of_a_later_opening(
    platform, make_home, make_reviewed, tmp_path
):  # type: ignore[no-untyped-def]
    stays, leaves = make_home(), make_home()
    make_reviewed(stays, "alexa switch on the lounge lights", "lights_on")
    make_reviewed(leaves, "alexa remind me about the clinic on thursday", "reminder_set")
    export_sealed(platform, tmp_path / "ex")
    with transaction(platform.sessions) as s:
        set_human_review(s, leaves.household_id, False, actor="customer", now=LATER)

    run = tmp_path / "run"
    summary = open_for_training(platform, tmp_path / "ex", run)

    assert summary.clips == 1 and summary.skipped["withdrawn"] == 1
    assert b"clinic" not in _everything_in(run)
    assert len(list((run / "audio").iterdir())) == 1


def test_a_clip_flagged_sensitive_after_the_export_is_left_out_of_a_later_opening(
    platform, make_home, make_reviewed, tmp_path
):  # type: ignore[no-untyped-def]
    home = make_home()
    make_reviewed(home, "alexa switch on the lounge lights", "lights_on")
    private = make_reviewed(home, "alexa call my doctor about the results", "general_question")
    export_sealed(platform, tmp_path / "ex")
    # A lead asks for a second annotation; its annotator flags the clip sensitive.
    with transaction(platform.sessions) as s:
        first = s.scalars(select(Annotation.id).where(Annotation.recording_id == private)).one()
        ask_second(s, first, "R-lead", LATER)
    with transaction(platform.sessions) as s:
        lease = claim(s, "R-second", POLICY, rng=random.Random(1), now=LATER)
        assert lease is not None
        answer = AnnotationInput(
            transcript="call my doctor", intent=None, flags=frozenset({Flag.SENSITIVE})
        )
        submit(s, platform.gate, lease.lease_id, "R-second", answer, POLICY, now=LATER)

    run = tmp_path / "run"
    summary = open_for_training(platform, tmp_path / "ex", run)

    assert summary.clips == 1 and summary.skipped["withdrawn"] == 1
    assert b"doctor" not in _everything_in(run)
    assert _opened_texts(run)[0].endswith("alexa switch on the lounge lights")


def test_a_clip_the_household_asked_by_voice_to_delete_is_in_no_export_meanwhile(
    platform, make_home, make_reviewed, make_staff, tmp_path
):  # type: ignore[no-untyped-def]
    """While "delete what I just said" waits out its undo period, nobody reads the clip: not a
    privacy officer's plaintext export, not a training run (a reviewer's lease was already
    withdrawn)."""
    from overheard.accounts.service import create_staff
    from overheard.learn.export import export_plaintext
    from overheard.learn.reviewed import reviewed_clips
    from overheard.recordings import voice_delete
    from overheard.recordings.models import Recording

    home, other = make_home(), make_home()
    asked = make_reviewed(home, "alexa call my sister about the clinic", "general_question")
    make_reviewed(other, "alexa switch on the lounge lights", "lights_on")
    with platform.sessions() as s:
        command = s.get_one(Recording, asked)
        s.expunge(command)
    voice_delete.schedule(platform, command, "delete_last")  # the undo period runs
    with transaction(platform.sessions) as s:
        officer, _ = create_staff(s, name="Officer", role="privacy_officer")

    summary = export_plaintext(platform, tmp_path / "pt", staff_id=officer.id)

    assert summary.clips == 1 and b"clinic" not in _everything_in(tmp_path / "pt")
    with platform.sessions() as s:
        assert asked not in {c.recording_id for c in reviewed_clips(s)}
    with transaction(platform.sessions) as s:  # undone: it is reviewed data again
        job_id = voice_delete.pending(s, home.household_id)[0].job_id
    voice_delete.undo(platform, home.household_id, job_id, "customer", LATER)
    with platform.sessions() as s:
        assert asked in {c.recording_id for c in reviewed_clips(s)}


def test_a_clip_is_in_no_export_while_a_later_clip_of_its_household_waits_for_the_pipeline(
    platform, make_home, make_reviewed, make_staff, tmp_path
):  # type: ignore[no-untyped-def]
    """A clip uploaded but not yet heard may be "forget what I just said": until the pipeline has
    heard it, the household's clips it could name are in no export, plaintext or for training."""
    import uuid

    from overheard import jobs
    from overheard.accounts.service import create_staff
    from overheard.learn.export import export_plaintext
    from overheard.learn.reviewed import reviewed_clips
    from overheard.recordings.ingest import PROCESS_JOB
    from overheard.recordings.models import Recording, Status

    home, other = make_home(), make_home()
    named = make_reviewed(home, "alexa call my sister about the clinic", "general_question")
    make_reviewed(other, "alexa switch on the lounge lights", "lights_on")
    with transaction(platform.sessions) as s:
        said = s.get_one(Recording, named)
        unheard = Recording(
            id=uuid.uuid4().hex, household_id=home.household_id, device_id=home.device_id,
            captured_at=said.captured_at + timedelta(seconds=20),
            received_at=said.captured_at + timedelta(seconds=21), duration_s=1.5,
            source_rate_hz=16000, source_format="WAV/PCM_16", status=Status.RECEIVED.value,
        )  # fmt: skip
        s.add(unheard)
        s.flush()
        job = jobs.enqueue(s, PROCESS_JOB, unheard.id)
        officer, _ = create_staff(s, name="Officer", role="privacy_officer")
        unheard_id, job_id = unheard.id, job.id

    summary = export_plaintext(platform, tmp_path / "pt", staff_id=officer.id)

    assert summary.clips == 1 and b"clinic" not in _everything_in(tmp_path / "pt")
    with platform.sessions() as s:
        assert named not in {c.recording_id for c in reviewed_clips(s)}
    with transaction(platform.sessions) as s:  # heard: no command, the clip is reviewed data again
        s.get_one(Recording, unheard_id).status = Status.TRANSCRIBED.value
        s.get_one(jobs.Job, job_id).state = jobs.JobState.DONE.value
    with platform.sessions() as s:
        assert named in {c.recording_id for c in reviewed_clips(s)}
