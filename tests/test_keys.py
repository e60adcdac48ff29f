"""Data keys: rotation re-wraps without touching blobs; destruction makes content unreadable."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from overheard.db import transaction
from overheard.errors import KeyUnavailable
from overheard.keys import DataKey, KeyRing
from overheard.recordings.models import Recording
from tests.conftest import tone_wav
from tests.recordings.test_ingest_api import auth


def blob_bytes(platform) -> dict[str, bytes]:
    return {b.key: platform.blobs.get(b.key) for b in platform.blobs.list("")}


def test_rotate_rewraps_keys_and_leaves_blobs_alone(client, platform, make_household):
    hh = make_household()
    rid = client.post(
        "/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token)
    ).json()["id"]
    before_blobs = blob_bytes(platform)
    with platform.sessions() as s:
        before = s.get(DataKey, hh.household_id)
    with transaction(platform.sessions) as s:
        version, count = platform.keyring.rotate(s)
    assert count == 1
    platform.keyring.forget(hh.household_id)
    with platform.sessions() as s:
        after = s.get(DataKey, hh.household_id)
        assert after.kek_version == version != before.kek_version
        assert after.wrapped != before.wrapped
        rec = s.get(Recording, rid)
        assert len(platform.gate.open_audio(s, rec, actor="test", purpose="t")) == 32000
    assert blob_bytes(platform) == before_blobs


def test_destroyed_key_cannot_open_content(client, platform, make_household):
    hh = make_household()
    rid = client.post(
        "/api/v1/utterances", content=tone_wav(), headers=auth(hh.device_token)
    ).json()["id"]
    with transaction(platform.sessions) as s:
        assert platform.keyring.destroy(s, hh.household_id)
    with platform.sessions() as s:
        rec = s.get(Recording, rid)
        with pytest.raises(KeyUnavailable):
            platform.gate.open_audio(s, rec, actor="test", purpose="t")
        assert s.scalars(select(DataKey.wrapped)).all() == [None]


def test_a_destroyed_key_keeps_its_share_until_the_destruction_commits(platform, make_household):
    """The share was erased inside the transaction: one rolled back (or a process killed before
    its commit) left the row naming an erased share. It is erased after the commit now."""
    hh = make_household()
    with platform.sessions() as s:
        share = s.get_one(DataKey, hh.household_id).share_id
    with pytest.raises(RuntimeError), transaction(platform.sessions) as s:
        assert platform.keyring.destroy(s, hh.household_id)
        assert (platform.keyring.shares.root / share).exists()
        raise RuntimeError("rolled back")
    with platform.sessions() as s:
        assert platform.keyring.data_key(s, hh.household_id)
    with transaction(platform.sessions) as s:
        assert platform.keyring.destroy(s, hh.household_id)
    assert not (platform.keyring.shares.root / share).exists()


def test_an_idle_process_drops_unwrapped_keys_when_their_time_is_up(platform, make_household):
    """A key another process shredded must not stay in this one's memory past its time, even when
    nothing here asks for a key again."""
    ring = KeyRing(platform.keyring.kek, platform.keyring.shares, ttl_s=0.3)
    hh = make_household()
    with platform.sessions() as s:
        ring.data_key(s, hh.household_id)
    assert ring.cached() == 1
    deadline = time.monotonic() + 10
    while ring.cached() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ring.cached() == 0


@pytest.mark.parametrize("how", ["destroy", "replace"])
def test_a_cached_key_is_not_used_after_another_process_changed_it(platform, make_household, how):
    """Another process's key ring destroys (or replaces) the key: this one's cached copy must not
    seal or open anything after, although nothing told it (no ``forget`` here)."""
    here = KeyRing(platform.keyring.kek, platform.keyring.shares)
    elsewhere = KeyRing(platform.keyring.kek, platform.keyring.shares)
    hh = make_household()
    with platform.sessions() as s:
        old = here.data_key(s, hh.household_id)
    assert here.cached() == 1
    with transaction(platform.sessions) as s:
        getattr(elsewhere, how)(s, hh.household_id)
    with platform.sessions() as s:
        if how == "destroy":
            with pytest.raises(KeyUnavailable):
                here.data_key(s, hh.household_id)
            assert here.cached() == 0
        else:
            assert here.data_key(s, hh.household_id) == elsewhere.data_key(s, hh.household_id) != old


def test_a_rotation_racing_delete_everything_keeps_the_new_generations_key(
    platform, make_household
):
    """``keys rotate`` re-wraps the key row it reads; read before a "delete everything" commits and
    written after it, it put the destroyed generation's key back on the row (PostgreSQL), so what
    was sealed under the new generation's key (the identity handed over, uploads since) no longer
    opened. The rotation locks the rows it re-wraps, so it waits and re-wraps the new key."""
    from overheard.recordings.deletion import shred_household
    from tests.interleave import interleaved

    hh = make_household()
    new_keys: list[bytes] = []

    def handover(session, household_id, old_key, new_key):  # type: ignore[no-untyped-def]
        new_keys.append(new_key)
        return 0

    def rotate() -> tuple[str, int]:
        with transaction(platform.sessions) as s:
            return platform.keyring.rotate(s)

    with interleaved(platform, rotate, at_commit=1) as rotated:
        shred_household(platform, hh.household_id, actor="test", handover=handover)
    assert rotated[0][1] == 1
    platform.keyring.forget(hh.household_id)
    with platform.sessions() as s:
        row = s.get(DataKey, hh.household_id)
        assert (row.generation, row.kek_version) == (2, rotated[0][0])
        assert platform.keyring.data_key(s, hh.household_id) == new_keys[0]
