"""Policies from the platform's settings are built once per settings object (it is frozen)."""

from __future__ import annotations

from types import SimpleNamespace

from overheard.config import Settings
from overheard.protect.serving import ServingPolicy
from overheard.review.policy import ReviewPolicy


def test_a_frozen_settings_object_gives_the_same_policy_and_a_changed_copy_its_own(tmp_path):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, database_url="sqlite://")
    first = ReviewPolicy.from_settings(settings)
    assert ReviewPolicy.from_settings(settings) is first
    assert ServingPolicy.from_settings(settings) is ServingPolicy.from_settings(settings)
    changed = settings.model_copy(update={"review_lease_s": first.lease_s + 60})
    assert ReviewPolicy.from_settings(changed).lease_s == first.lease_s + 60
    assert ReviewPolicy.from_settings(settings) is first


def test_any_other_settings_object_is_read_afresh():  # type: ignore[no-untyped-def]
    loose = SimpleNamespace(review_lease_s=100)
    assert ReviewPolicy.from_settings(loose).lease_s == 100
    loose.review_lease_s = 200
    assert ReviewPolicy.from_settings(loose).lease_s == 200


def test_a_full_cache_keeps_the_sections_just_built(tmp_path):  # type: ignore[no-untyped-def]
    """Other settings objects fill the cache to the brim first (as a long test run or many reloads
    do): making room for one section must not drop another built a moment before."""
    from overheard import config

    config._SECTIONS.clear()
    others = [Settings(data_dir=tmp_path, database_url="sqlite://") for _ in range(config._MAX_SECTIONS - 1)]
    for other in others:
        ReviewPolicy.from_settings(other)
    settings = Settings(data_dir=tmp_path, database_url="sqlite://")
    first = ReviewPolicy.from_settings(settings)  # fills the last place
    ServingPolicy.from_settings(settings)  # needs room
    assert ReviewPolicy.from_settings(settings) is first
    assert len(config._SECTIONS) <= config._MAX_SECTIONS
