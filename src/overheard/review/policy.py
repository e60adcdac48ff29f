"""The review programme's knobs, its reasons and its flags."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..config import settings_section

DAY_S = 86_400.0
"""Seconds in a day."""


class Reason(StrEnum):
    """Why a task exists."""

    RANDOM = "random"
    LOW_CONFIDENCE = "low_confidence"
    GOLD = "gold"
    DOUBLE_CHECK = "double_check"


SAMPLED_REASONS = (Reason.RANDOM.value, Reason.LOW_CONFIDENCE.value)
"""Reasons that bring a household's clip to review for the first time (the ones the cap counts)."""


class Decision(StrEnum):
    """What the sampler decided about one recording."""

    SAMPLED = "sampled"
    NO_CONSENT = "no_consent"
    BEFORE_CONSENT = "before_consent"
    """Recorded (or received) before the household turned review on."""
    CAP_REACHED = "cap_reached"
    NOT_DRAWN = "not_drawn"
    NOT_ELIGIBLE = "not_eligible"
    ALREADY_SAMPLED = "already_sampled"
    DELETION_PENDING = "deletion_pending"
    """A voice deletion of the household that may name the recording is asked or pending."""


class Flag(StrEnum):
    """What an annotator can mark on a clip; booleans the system acts on, never content."""

    SENSITIVE = "sensitive"
    EMERGENCY = "emergency"
    UNINTELLIGIBLE = "unintelligible"
    NOT_DIRECTED = "not_directed"
    WRONG_LANGUAGE = "wrong_language"


class SkipReason(StrEnum):
    """Why an annotator gave a task back."""

    CANNOT_HEAR = "cannot_hear"
    NOT_ENGLISH = "not_english"
    TECHNICAL_PROBLEM = "technical_problem"
    OTHER = "other"


class Draw(Protocol):
    """A source of uniform draws in [0, 1): ``random.Random`` or ``numpy.random.Generator``."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class ReviewPolicy:
    """Rates, caps and durations of the review programme (settings ``review_<field>``)."""

    sample_rate: float = 0.01
    """Share of eligible recordings drawn at random, 0–1."""
    low_confidence_rate: float = 0.0
    """Draw probability for recordings below ``low_confidence_below``, 0–1 (0 = off; never lowers ``sample_rate``)."""
    low_confidence_below: float = 0.5
    """ASR confidence, 0–1, under which ``low_confidence_rate`` applies."""
    low_word_confidence_below: float = 0.0
    """A word this unsure, 0–1, also makes the recording low-confidence (0 = words ignored)."""
    household_cap: int = 10
    """Most sampled clips per household within ``cap_window_s``."""
    cap_window_s: float = 30 * DAY_S
    """Length of the rolling cap window, seconds."""
    lease_s: float = 300.0
    """How long a claimed task stays an annotator's without a heartbeat, seconds."""
    double_share: float = 0.10
    """Share of sampled clips annotated a second time by another annotator, 0–1."""
    disagreement_wer: float = 0.2
    """WER between the two transcripts above which a lead adjudicates, 0–1+."""
    gold_share: float = 0.05
    """Share of claims answered with a gold task, 0–1."""

    def __post_init__(self) -> None:
        for name in ("sample_rate", "low_confidence_rate", "double_share", "gold_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0–1")
        if self.household_cap < 0 or self.cap_window_s <= 0 or self.lease_s <= 0:
            raise ValueError("household_cap must be >= 0, cap_window_s and lease_s > 0")

    @classmethod
    def from_settings(cls, settings: object) -> ReviewPolicy:
        """The policy from ``settings.review_<field>`` where set, defaults elsewhere."""
        return settings_section(cls, settings, "review_")
