"""A job that writes a copy derived from a recording, racing the operation that must remove it.

Each test lets the job run through the real code up to one of its commits, then runs the other
operation (a deletion, a ``sensitive`` flag, review turned off) in a second thread on its own
connection, waits until that thread has finished or is blocked on a lock, and lets the job commit.
Whatever the order the locks impose, no copy may be left: no blob under the household's prefixes,
no row naming one, and a deletion's receipt covers what it removes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from overheard import purges
from overheard.db import transaction
from overheard.protect import _marking, rendition, serving
from overheard.protect._tables import DisguisedClip
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import DeletionReceipt, Recording, Status
from overheard.review.consent import set_human_review
from overheard.speech import pipeline
from tests.interleave import interleaved
from tests.privacy._world import (
    add_clip,
    claim,
    later,
    sample,
    sample_after_transcription_only,
    submit,
)


def blobs_of(platform, household_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every blob left under the household's audio and disguised-copy prefixes."""
    return [
        b.key
        for prefix in (f"audio/{household_id}/", f"disguised/{household_id}/")
        for b in platform.blobs.list(prefix)
    ]


def deleting(platform, clip):  # type: ignore[no-untyped-def]
    """The customer deletes the one clip."""
    return lambda: delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )


def assert_completed(platform, receipt_id: str, recording_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The receipt's body, once every copy it names is gone and the recording with them."""
    with platform.sessions() as s:
        row = s.get(DeletionReceipt, receipt_id)
        assert row is not None and row.completed_at is not None
        assert s.get(Recording, recording_id) is None
        return dict(row.body)


@pytest.mark.parametrize("deletion_at", ["the trim's commit", "before the trim"])
def test_a_deletion_racing_the_pre_wake_trim_leaves_no_trimmed_copy(
    platform, make_household, deletion_at
):  # type: ignore[no-untyped-def]
    """The trim writes the audio after the wake word as a new blob; a deletion of the clip that
    lands before that commits must end with that blob removed under its receipt, not left sealed
    under the live key for the orphan sweep."""
    pipeline.register()
    clip = add_clip(platform, make_household, seconds=2.0)
    outcome = pipeline.Outcome(Status.TRANSCRIBED, None, 1.0, kept_from_s=0.5)
    with interleaved(platform, deleting(platform, clip), at_commit=1) as receipts:
        if deletion_at == "before the trim":
            with transaction(platform.sessions) as s:  # the job's first commit: opening the audio
                rec = s.get_one(Recording, clip.recording_id)
                platform.gate.open_audio(s, rec, actor="system:pipeline", purpose="pipeline")
        pipeline._store(platform, clip.recording_id, outcome, clip.pcm, later(1))
    purges.run(platform)
    (receipt,) = receipts
    body = assert_completed(platform, receipt.id, clip.recording_id)
    assert body["counts"]["audio_blobs"] == 1
    assert blobs_of(platform, clip.household_id) == []


def _flag_sensitive(platform, clip):  # type: ignore[no-untyped-def]
    lease = claim(platform, "R-a1")
    return lambda: submit(platform, lease, "R-a1", "something personal", "sensitive", now=later(5))


def _review_off(platform, clip):  # type: ignore[no-untyped-def]
    def off() -> None:
        with transaction(platform.sessions) as s:
            set_human_review(s, clip.household_id, False, actor="customer", now=later(5))

    return off


OPERATIONS = {"deleted": deleting, "flagged sensitive": _flag_sensitive, "review off": _review_off}


@pytest.mark.parametrize("at_commit", [1, 2], ids=["after the audio is read", "at the store"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_rendition_job_racing_removal_stores_no_copy(
    platform, make_household, operation, at_commit
):  # type: ignore[no-untyped-def]
    """A disguise job queued or running when its clip is deleted, flagged ``sensitive`` or its
    household turns review off stores no disguised copy that outlives that operation: the job's
    first commit opens the audio, its second stores the rendition."""
    serving.install(platform)
    clip = add_clip(platform, make_household, seconds=1.0)
    sample_after_transcription_only(platform, clip)
    other = OPERATIONS[operation](platform, clip)
    with interleaved(platform, other, at_commit=at_commit) as results:
        rendition.render(platform, clip.recording_id)
    purges.run(platform)
    assert blobs_of(platform, clip.household_id) == (
        [] if operation == "deleted" else [f"audio/{clip.household_id}/{clip.recording_id}"]
    )
    with platform.sessions() as s:
        assert s.scalars(select(DisguisedClip.blob_key)).all() == []
    if operation == "deleted":
        assert_completed(platform, results[0].id, clip.recording_id)


class CommitRefused(RuntimeError):
    """Raised by a test hook just before a job's commit."""


def _refuse_commit(session: Session) -> None:
    raise CommitRefused("the database went away")


@pytest.mark.parametrize("job", ["trim", "rendition"])
def test_a_job_whose_commit_fails_removes_the_blob_it_wrote(platform, make_household, job):  # type: ignore[no-untyped-def]
    """The trimmed audio and the rendition are written before their rows commit: a commit that
    fails leaves no blob behind for the orphan sweep to find later."""
    pipeline.register()
    serving.install(platform)
    clip = add_clip(platform, make_household, seconds=1.0)
    sample_after_transcription_only(platform, clip)
    received = f"audio/{clip.household_id}/{clip.recording_id}"
    outcome = pipeline.Outcome(Status.TRANSCRIBED, None, 1.0, kept_from_s=0.5)
    commits = 2 if job == "rendition" else 1  # the rendition job reads in its first
    seen = [0]

    def refuse_the_last(session: Session) -> None:
        seen[0] += 1
        if seen[0] == commits:
            _refuse_commit(session)

    event.listen(platform.sessions, "before_commit", refuse_the_last)
    try:
        with pytest.raises(CommitRefused):
            if job == "trim":
                pipeline._store(platform, clip.recording_id, outcome, clip.pcm, later(1))
            else:
                rendition.render(platform, clip.recording_id)
    finally:
        event.remove(platform.sessions, "before_commit", refuse_the_last)
    assert blobs_of(platform, clip.household_id) == [received]


class _Paused:
    """Runs an operation in a thread up to its commit (``committing``) or through it
    (``committed``), while the serving thread is between its own commit and keeping its analysis."""

    def __init__(self, platform, operation, until: str) -> None:  # type: ignore[no-untyped-def]
        self.platform, self.operation, self.until = platform, operation, until
        self.at_commit, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        try:
            self.operation()
        except BaseException as exc:  # re-raised in the test's thread
            self.errors.append(exc)
        finally:
            self.at_commit.set()

    def _before_commit(self, session: Session) -> None:
        if threading.get_ident() == self.thread.ident:
            self.at_commit.set()
            assert self.release.wait(20.0)

    def start(self) -> None:
        if self.until == "committing":
            event.listen(self.platform.sessions, "before_commit", self._before_commit)
        self.thread.start()
        if self.until == "committed":
            self.thread.join(20.0)
        else:
            assert self.at_commit.wait(20.0)

    def finish(self) -> None:
        self.release.set()
        self.thread.join(20.0)
        if self.until == "committing":
            event.remove(self.platform.sessions, "before_commit", self._before_commit)
        if self.errors:
            raise self.errors[0]


@pytest.mark.parametrize("until", ["committed", "committing"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_serve_racing_removal_keeps_no_watermark_analysis(
    platform, make_household, monkeypatch, operation, until
):  # type: ignore[no-untyped-def]
    """A serve commits, then analyses the disguised clip for its watermark outside the
    transaction and keeps that analysis in memory. A deletion, a ``sensitive`` flag or review
    turned off that commits (or is committing) meanwhile must not leave the analysis kept: before,
    it lived until the 15-minute expiry, after the removal had dropped everything it could see."""
    serving.install(platform)
    platform.settings = platform.settings.model_copy(update={"disguise_method": "world"})  # quick
    clip = add_clip(platform, make_household, seconds=2.0)
    sample(platform, clip)
    other = _Paused(platform, OPERATIONS[operation](platform, clip), until)
    lease = claim(platform, "R-a1")  # the flag's own lease: a reviewer holds one at a time
    analyse = _marking.analyse

    def analyse_while_removed(pcm, *kept):  # type: ignore[no-untyped-def]
        found = analyse(pcm, *kept)  # with the rendition's stored first measurement
        other.start()
        return found

    monkeypatch.setattr(_marking, "analyse", analyse_while_removed)
    _marking.CACHE.forget([clip.recording_id])
    try:
        serving.clip_for_lease(platform, lease_id=lease.lease_id, staff="R-a1", now=later(1))
    finally:
        other.finish()
    kept = [ref for ref in _marking.CACHE._items if f"/{clip.recording_id}/" in ref[0]]
    assert kept == []
