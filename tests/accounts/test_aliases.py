"""Staff are shown to others by a keyed alias: stable, per household for customers, not the name."""

from __future__ import annotations

from overheard.accounts.aliases import alias_key, display_actor, staff_alias


def test_alias_is_stable_keyed_and_scoped(platform):
    key = alias_key(platform.secrets)
    first = staff_alias(key, "R-7f3a", scope="hh-1")
    assert first == staff_alias(key, "R-7f3a", scope="hh-1")
    assert first.startswith("Reviewer ") and "7f3a" not in first.lower()
    assert first != staff_alias(key, "R-7f3a", scope="hh-2")  # households cannot link reviewers
    assert first != staff_alias(key, "R-7f3b", scope="hh-1")
    assert staff_alias(b"another server" * 3, "R-7f3a", scope="hh-1") != first


def test_display_actor_hides_every_form_of_a_sign_in_name(platform):
    key = alias_key(platform.secrets)
    assert display_actor(key, "staff:R-7f3a", scope="hh") == staff_alias(key, "R-7f3a", scope="hh")
    assert display_actor(key, "R-7f3a", scope="hh") == staff_alias(key, "R-7f3a", scope="hh")
    for other in ("customer:abc", "system", "device:dev-1", "retention"):
        assert display_actor(key, other, scope="hh") == other
