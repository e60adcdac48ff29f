"""The review policy: defaults, validation, and reading ``review_*`` settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from overheard.config import Settings
from overheard.review.policy import ReviewPolicy


def test_defaults():
    p = ReviewPolicy()
    assert (p.sample_rate, p.household_cap, p.cap_window_s, p.lease_s) == (
        0.01,
        10,
        2_592_000.0,
        300.0,
    )
    assert (p.low_confidence_rate, p.double_share, p.gold_share) == (0.0, 0.10, 0.05)


@pytest.mark.parametrize(
    "bad",
    [{"sample_rate": 1.5}, {"gold_share": -0.1}, {"household_cap": -1}, {"lease_s": 0}],
)
def test_out_of_range_values_are_refused(bad):
    with pytest.raises(ValueError):
        ReviewPolicy(**bad)


def test_reads_review_settings_where_they_exist():
    given = SimpleNamespace(review_sample_rate=0.02, review_lease_s=120.0, unrelated=1)
    p = ReviewPolicy.from_settings(given)
    assert (p.sample_rate, p.lease_s, p.household_cap) == (0.02, 120.0, 10)
    settings = Settings()
    expected = getattr(settings, "review_sample_rate", ReviewPolicy().sample_rate)
    assert ReviewPolicy.from_settings(settings).sample_rate == expected
