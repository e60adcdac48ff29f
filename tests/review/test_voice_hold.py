"""A voice deletion takes what it names out of review when it is asked or scheduled, not when it
is carried out: no reviewer hears "that" while the household's question or undo period runs, and
the sampler, a lead's actions and an annotator's undo leave out a recording such a pending deletion
may name (the undo also a clip of a household that turned review off)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from overheard import jobs
from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.errors import Conflict
from overheard.recordings import voice_delete
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.ingest import PROCESS_JOB
from overheard.recordings.models import Recording, Status
from overheard.review import hooks
from overheard.review.annotations import submit
from overheard.review.consent import set_human_review
from overheard.review.content import AnnotationInput
from overheard.review.lead import ask_second, gold_from
from overheard.review.models import Annotation, GoldItem, ReviewTask, TaskState
from overheard.review.policy import Decision
from overheard.review.queue import claim, lease_is_live
from overheard.review.sampler import sample_after_transcription
from overheard.review.undo import UndoRefused, undo_submit
from tests.interleave import interleaved

from .conftest import T0, later

CONFIRM_S = 300.0


@pytest.fixture
def platform(platform):  # type: ignore[no-untyped-def]
    platform.settings = platform.settings.model_copy(
        update={"voice_delete_confirm_s": CONFIRM_S, "voice_delete_undo_s": 30.0}
    )
    hooks.register()
    return platform


def task_of(platform, recording_id: str) -> ReviewTask:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        task = s.scalars(select(ReviewTask).where(ReviewTask.recording_id == recording_id)).one()
        s.expunge_all()
        return task


def sampled(platform, rec: Recording, policy, rng, now):  # type: ignore[no-untyped-def]
    """The sampler's decision about ``rec`` at ``now``."""
    with transaction(platform.sessions) as s:
        sample_after_transcription(s, s.merge(rec), policy, rng, now)
    with platform.sessions() as s:
        event = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "review.sample", AuditEvent.subject == rec.id)
            .order_by(AuditEvent.seq.desc())
        ).first()
        return event.reason


def answered(platform, home, add_recordings, policy, rng):  # type: ignore[no-untyped-def]
    """A clip of ``home`` sampled, leased to R-0001 and answered: (recording, lease, annotation id)."""
    [said] = add_recordings(home, at=later(-10))
    assert sampled(platform, said, policy, rng, later(-9)) == Decision.SAMPLED
    with transaction(platform.sessions) as s:
        lease = claim(s, "R-0001", policy, rng=rng, now=later(-8))
        submit(s, platform.gate, lease.lease_id, "R-0001", AnnotationInput("eggs", "shopping"),
               policy, now=later(-7))  # fmt: skip
    with platform.sessions() as s:
        annotation = s.scalars(select(Annotation.id).where(Annotation.recording_id == said.id)).one()
    return said, lease, annotation


def leased_for_a_double_check(platform, home, add_recordings, double, rng):  # type: ignore[no-untyped-def]
    """A clip of ``home`` sampled under ``double`` (every clip double-checked) and leased to
    R-0001: (recording, lease)."""
    [said] = add_recordings(home, at=later(-10))
    assert sampled(platform, said, double, rng, later(-9)) == Decision.SAMPLED
    with transaction(platform.sessions) as s:
        lease = claim(s, "R-0001", double, rng=rng, now=later(-8))
    return said, lease


def withdrawal(platform, home, command):  # type: ignore[no-untyped-def]
    """What takes ``home``'s clips out of review while a race runs: a voice deletion asked by
    ``command``, or (``command`` None) the household turning review off."""

    def withdraw() -> None:
        if command is not None:
            voice_delete.ask(platform, command, "delete_last")
            return
        with transaction(platform.sessions) as s:
            set_human_review(s, home.household_id, False, actor="customer", now=later(1))

    return withdraw


def test_an_asked_deletion_takes_the_clip_it_names_out_of_review_at_once(
    platform, make_home, add_recordings, policy, rng
):
    home = make_home()
    [said] = add_recordings(home, at=later(-10))
    assert sampled(platform, said, policy, rng, later(-9)) == Decision.SAMPLED
    with transaction(platform.sessions) as s:
        lease = claim(s, "R-0001", policy, rng=rng, now=later(-8))  # a reviewer has it
    assert task_of(platform, said.id).lease_id == lease.lease_id
    [other] = add_recordings(home, at=later(-3600))  # outside the window: not named
    assert sampled(platform, other, policy, rng, later(-7)) == Decision.SAMPLED
    [command] = add_recordings(home, at=T0)
    voice_delete.ask(platform, command, "delete_last")  # "delete that", held for a yes
    named = task_of(platform, said.id)
    assert named.state == TaskState.WITHDRAWN.value
    assert named.withdrawn_because == hooks.VOICE_DELETION
    with platform.sessions() as s:  # the reviewer loses the clip at once
        assert not lease_is_live(s, lease.lease_id, now=later(1))
    assert task_of(platform, other.id).state == TaskState.QUEUED.value


def test_a_scheduled_delete_today_takes_the_day_out_of_review(
    platform, make_home, add_recordings, policy, rng
):
    home = make_home()
    today = add_recordings(home, 3, at=later(-600))
    for rec in today:
        assert sampled(platform, rec, policy, rng, later(-599)) == Decision.SAMPLED
    [command] = add_recordings(home, at=T0)
    voice_delete.schedule(platform, command, "delete_today", now=T0)  # in its undo period
    assert {task_of(platform, r.id).state for r in today} == {TaskState.WITHDRAWN.value}


def test_the_sampler_leaves_out_what_a_pending_deletion_may_name(
    platform, make_home, add_recordings, policy, rng
):
    """"That" is processed after the command (another worker): it is never sampled while the
    question waits; once the question lapsed unanswered, the household's clips are sampled again."""
    home, neighbour = make_home(), make_home()
    [said] = add_recordings(home, at=later(-5))
    [command] = add_recordings(home, at=T0)
    voice_delete.ask(platform, command, "delete_last")
    assert sampled(platform, said, policy, rng, later(1)) == Decision.DELETION_PENDING
    with platform.sessions() as s:
        assert s.scalars(select(ReviewTask).where(ReviewTask.recording_id == said.id)).first() is None
    [theirs] = add_recordings(neighbour, at=later(-4))  # another household is not held
    assert sampled(platform, theirs, policy, rng, later(1)) == Decision.SAMPLED
    lapsed = T0 + timedelta(seconds=CONFIRM_S + 1)
    [afterwards] = add_recordings(home, at=lapsed)
    assert sampled(platform, afterwards, policy, rng, lapsed) == Decision.SAMPLED


def test_a_lead_cannot_bring_back_into_review_what_a_pending_deletion_names(
    platform, make_home, add_recordings, policy, rng
):
    home = make_home()
    said, _lease, annotation = answered(platform, home, add_recordings, policy, rng)
    [command] = add_recordings(home, at=T0)
    voice_delete.ask(platform, command, "delete_last")
    for act in (
        lambda s: ask_second(s, annotation, "L-0001", later(1)),
        lambda s: gold_from(s, platform.gate, annotation, "L-0001", later(1)),
    ):
        with pytest.raises(Conflict), transaction(platform.sessions) as s:
            act(s)
    with platform.sessions() as s:
        assert s.scalars(
            select(ReviewTask).where(
                ReviewTask.recording_id == said.id, ReviewTask.state == TaskState.QUEUED.value
            )
        ).first() is None


@pytest.mark.parametrize("leaves", ["consent_off", "voice_deletion"])
def test_an_undo_does_not_lease_again_a_clip_that_left_review(
    platform, make_home, add_recordings, policy, rng, leaves
):
    """An annotator may take back an answer while its lease would have lived, and gets the clip
    again: not once the household turned review off or asked by voice to delete the clip."""
    home = make_home()
    said, lease, annotation = answered(platform, home, add_recordings, policy, rng)
    if leaves == "consent_off":
        with transaction(platform.sessions) as s:
            set_human_review(s, home.household_id, False, actor="customer", now=later(-6))
    else:
        [command] = add_recordings(home, at=T0)
        voice_delete.ask(platform, command, "delete_last")
    with pytest.raises(UndoRefused), transaction(platform.sessions) as s:
        undo_submit(s, annotation, "R-0001", policy, now=later(1))
    with platform.sessions() as s:
        assert not lease_is_live(s, lease.lease_id, now=later(2))
    assert task_of(platform, said.id).state == TaskState.DONE.value


@pytest.mark.parametrize("act", ["undo", "ask_second", "gold"])
def test_review_turned_off_meanwhile_is_not_outrun_by_an_undo_or_a_leads_action(
    platform, make_home, add_recordings, policy, rng, act
):
    """An undo leases the clip again, a second annotation or a gold item queues it: each read the
    household's consent unlocked, so on PostgreSQL review turned off while one of them ran found
    nothing to withdraw yet, and the clip of a household that had opted out then went to a
    reviewer. The household's row is now held ``FOR SHARE`` from that check to the commit."""
    home = make_home()
    said, lease, annotation = answered(platform, home, add_recordings, policy, rng)

    review_off = withdrawal(platform, home, None)

    acts = {
        "undo": lambda s: undo_submit(s, annotation, "R-0001", policy, now=later(1)),
        "ask_second": lambda s: ask_second(s, annotation, "L-0001", later(1)),
        "gold": lambda s: gold_from(s, platform.gate, annotation, "L-0001", later(1)),
    }
    with interleaved(platform, review_off, at_commit=1), transaction(platform.sessions) as s:
        acts[act](s)
    with platform.sessions() as s:
        assert not lease_is_live(s, lease.lease_id, now=later(2))
        open_tasks = s.scalars(
            select(ReviewTask.id).where(
                ReviewTask.recording_id == said.id,
                ReviewTask.state.in_([TaskState.QUEUED.value, TaskState.LEASED.value]),
            )
        ).all()
        assert open_tasks == []
        assert s.scalars(select(GoldItem.id).where(GoldItem.active.is_(True))).all() == []


@pytest.mark.parametrize("leaves", ["consent_off", "voice_deletion"])
def test_a_gold_claim_racing_a_withdrawal_leases_nothing(
    platform, make_home, add_recordings, policy, rng, leaves
):
    """A gold claim makes a new task from an active gold item: review turned off, or a voice
    deletion asked, while the claim ran found that task not yet committed and withdrew nothing,
    so the reviewer kept a live lease on the clip (PostgreSQL). The claim now holds the gold item
    ``FOR SHARE`` and withdrawals deactivate gold items before they withdraw tasks."""
    home = make_home()
    _said, _lease, annotation = answered(platform, home, add_recordings, policy, rng)
    with transaction(platform.sessions) as s:
        gold_from(s, platform.gate, annotation, "L-0001", later(-6))
    [command] = add_recordings(home, at=T0) if leaves == "voice_deletion" else [None]

    withdraw = withdrawal(platform, home, command)

    gold_only = replace(policy, gold_share=1.0)
    with interleaved(platform, withdraw, at_commit=1), transaction(platform.sessions) as s:
        got = claim(s, "R-0002", gold_only, rng=rng, now=later(1))
    assert got is not None
    with platform.sessions() as s:
        assert not lease_is_live(s, got.lease_id, now=later(2))


@pytest.mark.parametrize("leaves", ["consent_off", "voice_deletion"])
def test_a_submit_that_queues_a_second_annotation_is_not_outrun_by_a_withdrawal(
    platform, make_home, add_recordings, policy, rng, leaves
):
    """A submit of a clip drawn for a double-check queues its second task. Review turned off, or
    a voice deletion asked, while the submit ran waited for the submitted task's row and then
    found it done; the second task, inserted meanwhile, was not withdrawn (PostgreSQL) and went
    to another reviewer."""
    double = replace(policy, double_share=1.0)
    home = make_home()
    said, lease = leased_for_a_double_check(platform, home, add_recordings, double, rng)
    [command] = add_recordings(home, at=T0) if leaves == "voice_deletion" else [None]

    withdraw = withdrawal(platform, home, command)

    with interleaved(platform, withdraw, at_commit=1), transaction(platform.sessions) as s:
        submit(s, platform.gate, lease.lease_id, "R-0001", AnnotationInput("eggs", "shopping"),
               double, now=later(1))  # fmt: skip
    with platform.sessions() as s:
        waiting = s.scalars(
            select(ReviewTask.id).where(
                ReviewTask.recording_id == said.id,
                ReviewTask.state.in_([TaskState.QUEUED.value, TaskState.LEASED.value]),
            )
        ).all()
    assert waiting == []


def test_a_submit_that_queues_a_second_annotation_is_not_outrun_by_deleting_the_clip(
    platform, make_home, add_recordings, policy, rng
):
    """A deletion of the clip while its double-checked submit ran waited for the submitted task's
    row, found it done, and missed the second task queued meanwhile (PostgreSQL): that task stayed
    queued with no recording. The submit now holds the recording ``FOR SHARE`` first, so the
    deletion waits for its commit and withdraws the second task too."""
    double = replace(policy, double_share=1.0)
    home = make_home()
    said, lease = leased_for_a_double_check(platform, home, add_recordings, double, rng)

    def delete_the_clip() -> None:
        delete_recordings(
            platform, home.household_id, [said.id], actor="customer", scope={"kind": "one"}
        )

    with interleaved(platform, delete_the_clip, at_commit=1), transaction(platform.sessions) as s:
        submit(s, platform.gate, lease.lease_id, "R-0001", AnnotationInput("eggs", "shopping"),
               double, now=later(1))  # fmt: skip
    with platform.sessions() as s:
        assert s.get(Recording, said.id) is None
        waiting = s.scalars(
            select(ReviewTask.id).where(
                ReviewTask.household_id == home.household_id,
                ReviewTask.state.in_([TaskState.QUEUED.value, TaskState.LEASED.value]),
            )
        ).all()
    assert waiting == []


@pytest.mark.parametrize("gold", [False, True])
def test_a_claim_passes_over_a_clip_while_another_of_its_household_is_unheard(
    platform, make_home, add_recordings, policy, rng, gold
):
    """A clip of the household the pipeline has not transcribed yet may be "forget what I just
    said": until it is, no task of the household is leased, neither a queued one nor a gold copy;
    another household's task is, and once the clip is heard the household's is too."""
    home, neighbour = make_home(), make_home()
    if gold:
        _said, _lease, annotation = answered(platform, home, add_recordings, policy, rng)
        with transaction(platform.sessions) as s:
            gold_from(s, platform.gate, annotation, "L-0001", later(-6))
        policy = replace(policy, gold_share=1.0)
    else:
        [said] = add_recordings(home, at=later(-10))
        assert sampled(platform, said, policy, rng, later(-9)) == Decision.SAMPLED
    [unheard] = add_recordings(home, at=T0, status=Status.RECEIVED)
    with transaction(platform.sessions) as s:
        jobs.enqueue(s, PROCESS_JOB, unheard.id, now=T0)  # as the upload queues it
    with transaction(platform.sessions) as s:
        assert claim(s, "R-0002", policy, rng=rng, now=later(1)) is None
    [theirs] = add_recordings(neighbour, at=later(-5))
    assert sampled(platform, theirs, policy, rng, later(-4)) == Decision.SAMPLED
    with transaction(platform.sessions) as s:
        got = claim(s, "R-0003", replace(policy, gold_share=0.0), rng=rng, now=later(1))
    assert got is not None and task_of(platform, theirs.id).lease_id == got.lease_id
    with transaction(platform.sessions) as s:
        s.get(Recording, unheard.id).status = Status.TRANSCRIBED.value  # heard: asks for nothing
    with transaction(platform.sessions) as s:
        assert claim(s, "R-0002", policy, rng=rng, now=later(2)) is not None
