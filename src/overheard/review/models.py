"""Tables of the review programme. None holds content: transcripts and intents are sealed texts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class TaskState(StrEnum):
    """Where a task is."""

    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    WITHDRAWN = "withdrawn"


OPEN_STATES = (TaskState.QUEUED.value, TaskState.LEASED.value)
"""States in which a task can still reach a reviewer."""


class ReviewTask(Base):
    """One clip to be annotated once, under its own random pseudonym; holds the current lease."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        Index("ix_review_tasks_state_created", "state", "created_at"),
        Index("ix_review_tasks_household_created", "household_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    """What reviewers call the clip, e.g. ``C-9d2e41a07b3c``; random, unrelated to any other id."""
    recording_id: Mapped[str | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL"), index=True
    )
    """NULL once the recording is deleted (the task row stays, withdrawn, for caps and stats)."""
    household_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=TaskState.QUEUED.value)
    duration_s: Mapped[float]
    """Seconds of audio in the clip."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    wants_second: Mapped[bool] = mapped_column(default=False)
    """Drawn for double annotation: a ``double_check`` task follows its first annotation."""
    first_task_id: Mapped[str | None] = mapped_column(String(32), default=None)
    """For a ``double_check`` task, the task whose annotation it is compared with."""
    gold_id: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    lease_id: Mapped[str | None] = mapped_column(String(32), default=None, unique=True)
    """The current lease token (random); the holder presents it for every action."""
    leased_to: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    leased_at: Mapped[datetime | None] = mapped_column(default=None)
    done_by: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_because: Mapped[str | None] = mapped_column(String(32), default=None)


class TaskBar(Base):
    """An annotator who must not get a task again (they skipped it, or did its first pass)."""

    __tablename__ = "review_task_bars"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("review_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    annotator: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    cause: Mapped[str] = mapped_column(String(32))
    """A skip reason, or ``first_pass``."""
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Annotation(Base):
    """An annotation's metadata; its transcript and intent are sealed as ``annotation:<id>``."""

    __tablename__ = "review_annotations"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    task_id: Mapped[str] = mapped_column(
        ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    annotator: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="review")
    """``review`` (an annotator's) or ``adjudication`` (a lead's correction)."""
    started_at: Mapped[datetime]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Flags stay plaintext booleans: the system must act on them (withdraw, exclude, escalate)
    # without opening content, and a boolean says nothing about what was said.
    sensitive: Mapped[bool] = mapped_column(default=False)
    emergency: Mapped[bool] = mapped_column(default=False)
    unintelligible: Mapped[bool] = mapped_column(default=False)
    not_directed: Mapped[bool] = mapped_column(default=False)
    wrong_language: Mapped[bool] = mapped_column(default=False)
    gold_wer: Mapped[float | None] = mapped_column(default=None)
    """On a gold task: word error rate against the gold answer."""
    gold_intent_correct: Mapped[bool | None] = mapped_column(default=None)


class Agreement(Base):
    """Two annotations of one clip compared; an ``open`` one waits in the adjudication queue."""

    __tablename__ = "review_agreements"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    first_annotation_id: Mapped[str] = mapped_column(
        ForeignKey("review_annotations.id", ondelete="CASCADE")
    )
    second_annotation_id: Mapped[str] = mapped_column(
        ForeignKey("review_annotations.id", ondelete="CASCADE")
    )
    wer: Mapped[float]
    """Word error rate of the second transcript against the first."""
    intent_agree: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16), index=True)
    """``agreed``, ``open`` (waiting for a lead), ``resolved`` or ``withdrawn``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(32), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_annotation_id: Mapped[str | None] = mapped_column(String(16), default=None)


class GoldItem(Base):
    """A clip with a known answer (sealed as ``gold:<id>``), served to annotators to measure them."""

    __tablename__ = "review_gold"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    household_id: Mapped[str] = mapped_column(String(32), index=True)
    duration_s: Mapped[float]
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)


class Exclusion(Base):
    """A recording kept out of every training set for good (kept after deletion: ids only)."""

    __tablename__ = "review_exclusions"

    recording_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    by: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EmergencyReport(Base):
    """An ``emergency`` flag waiting for the privacy officer (ids only; the policy comes later)."""

    __tablename__ = "review_emergencies"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(32), index=True)
    annotation_id: Mapped[str] = mapped_column(String(16))
    reported_by: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    recording_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
