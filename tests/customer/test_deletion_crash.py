""" "Delete everything" killed (SIGKILL) around its commit: nothing is lost, nothing outlives a sweep.

A child process runs the real deletion on the test's database and share folder and is killed by
SIGKILL from inside at a chosen point: just before the commit that replaces the household key, or
as it is about to erase the old key share (after that commit).
"""

from __future__ import annotations

import textwrap

import pytest

from overheard.identity.service import open_identity
from overheard.keys import DataKey
from overheard.tasks import retention_sweep, startup_sweep
from tests._crash import killed_child
from tests.accounts.conftest import START
from tests.customer.conftest import add_recording

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from sqlalchemy import event
    from overheard.config import Settings
    from overheard.customer.service import delete_all
    from overheard.keys import DataKey
    from overheard.platform import Platform
    from overheard.tasks import register_hooks

    data_dir, database_url, household_id, when, point = sys.argv[1:]
    settings = Settings(data_dir=data_dir, database_url=database_url, workers=1).resolved()
    platform = Platform.open(settings)
    register_hooks()
    replaced = []
    real_replace = platform.keyring.replace

    def replace(session, hh, **kw):
        replaced.append(session)
        return real_replace(session, hh, **kw)

    platform.keyring.replace = replace

    def kill(session):
        if session in replaced:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "before_commit":
        event.listen(platform.sessions, point, kill)
    else:  # about to erase the old share: after the commit, or inside the transaction before
        with platform.sessions() as s:
            old_share = s.get(DataKey, household_id).share_id
        real_destroy = platform.keyring.shares.destroy

        def destroy(share_id):
            if share_id == old_share:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_destroy(share_id)

        platform.keyring.shares.destroy = destroy
    delete_all(platform, household_id, "customer", datetime.fromisoformat(when))
    sys.exit(3)  # never reached: killed at the point
    """
)


def _killed_deletion(platform, household_id: str, point: str) -> None:  # type: ignore[no-untyped-def]
    settings = platform.settings
    killed_child(CHILD, str(settings.data_dir), settings.database_url, household_id,
                 START.isoformat(), point, timeout_s=120)  # fmt: skip


def _key(platform, household_id: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        row = s.get_one(DataKey, household_id)
        return row.generation, row.share_id


def test_a_deletion_killed_just_before_its_commit_loses_nothing_and_a_retry_deletes(
    platform, owner
):  # type: ignore[no-untyped-def]
    """The old share was erased inside the transaction: killed before the commit, the row still
    named it and the name, e-mail, serials and every recording opened no more, nothing deleted."""
    add_recording(platform, owner.device_id, "secret words")
    with platform.sessions() as s:
        name_before = open_identity(s, platform.keyring, owner.household_id).name
    generation, share = _key(platform, owner.household_id)

    _killed_deletion(platform, owner.household_id, "before_commit")

    platform.keyring.forget(owner.household_id)
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
    assert "secret words" in owner.client.get("/me").text
    assert _key(platform, owner.household_id) == (generation, share)
    unused = f"{owner.household_id}.g{generation + 1}"
    assert platform.keyring.shares.exists(unused)  # written before the commit that never came
    startup_sweep(platform)  # a sweep leaves the live share alone and erases the unused new one
    assert platform.keyring.shares.exists(share) and not platform.keyring.shares.exists(unused)

    from overheard.customer.service import delete_all

    body = delete_all(platform, owner.household_id, "customer", START).body
    assert body["counts"]["recordings"] == 1 and body["counts"]["identity_fields_resealed"] == 4
    assert "cannot be opened" in body["backups"]
    assert not platform.keyring.shares.exists(share)
    platform.keyring.forget(owner.household_id)
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
    assert _key(platform, owner.household_id)[0] == generation + 1


@pytest.mark.parametrize("sweep", [startup_sweep, retention_sweep], ids=["startup", "periodic"])
def test_a_deletion_killed_just_after_its_commit_leaves_a_share_the_next_sweep_erases(
    platform, owner, sweep
):  # type: ignore[no-untyped-def]
    add_recording(platform, owner.device_id, "secret words")
    with platform.sessions() as s:
        name_before = open_identity(s, platform.keyring, owner.household_id).name
    generation, old_share = _key(platform, owner.household_id)

    _killed_deletion(platform, owner.household_id, "erasing")

    platform.keyring.forget(owner.household_id)
    new_generation, new_share = _key(platform, owner.household_id)
    assert new_generation == generation + 1
    with platform.sessions() as s:  # the identity committed under the new key
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
    # The state the kill leaves: the old share outlived the commit, no row names it.
    assert platform.keyring.shares.exists(old_share)

    sweep(platform)

    assert not platform.keyring.shares.exists(old_share)
    assert platform.keyring.shares.exists(new_share)
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
        from sqlalchemy import select

        from overheard.audit import AuditEvent

        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.household_id == owner.household_id)
        ).all()
    assert "keys.shares_sweep" in actions


def test_a_share_that_cannot_be_erased_after_the_commit_is_not_claimed_gone(
    platform, owner, monkeypatch
):  # type: ignore[no-untyped-def]
    """An erasure failing after the commit (a failing disk) leaves the deletion done, the receipt
    saying the share is still to be erased, and the share to the sweep."""
    from overheard.customer.service import delete_all

    _, old_share = _key(platform, owner.household_id)
    shares = platform.keyring.shares
    real_destroy = type(shares).destroy

    def failing(self, share_id):  # type: ignore[no-untyped-def]
        if share_id == old_share:
            raise OSError(5, "Input/output error")
        return real_destroy(self, share_id)

    monkeypatch.setattr(type(shares), "destroy", failing)
    body = delete_all(platform, owner.household_id, "customer", START).body
    monkeypatch.undo()

    assert body["household_key_destroyed"] is True
    assert (
        "could not be erased yet" in body["backups"] and "cannot be opened" not in body["backups"]
    )
    assert shares.exists(old_share)
    startup_sweep(platform)
    assert not shares.exists(old_share)


def test_the_sweep_leaves_shares_no_committed_row_can_be_told_from(platform, owner):  # type: ignore[no-untyped-def]
    """A share of a household without a key row (a database restored into an empty one has none
    yet) is kept; one of a newer generation no replacement is writing is erased."""
    shares = platform.keyring.shares
    generation, share = _key(platform, owner.household_id)
    shares.create("hh_elsewhere.g3")
    newer = f"{owner.household_id}.g{generation + 1}"
    shares.create(newer)
    startup_sweep(platform)
    assert shares.exists("hh_elsewhere.g3") and shares.exists(share)
    assert not shares.exists(newer)


def test_the_sweep_keeps_the_new_share_of_a_replacement_in_flight(platform, owner):  # type: ignore[no-untyped-def]
    """A "delete everything" paused inside its transaction, its new share written: a sweep skips
    the key row it holds (PostgreSQL) or waits for it (SQLite); its new share is kept."""
    import threading

    from overheard.customer.service import reseal_identity
    from overheard.recordings.deletion import delete_everything

    with platform.sessions() as s:
        name_before = open_identity(s, platform.keyring, owner.household_id).name
    generation, old_share = _key(platform, owner.household_id)
    paused, resume = threading.Event(), threading.Event()

    def handover(session, household_id, old_key, new_key):  # type: ignore[no-untyped-def]
        resealed = reseal_identity(session, household_id, old_key, new_key)
        paused.set()
        assert resume.wait(30)
        return resealed

    deleting = threading.Thread(
        target=delete_everything,
        args=(platform, owner.household_id),
        kwargs={"actor": "customer", "handover": handover},
    )
    deleting.start()
    assert paused.wait(30)
    new_share = f"{owner.household_id}.g{generation + 1}"
    assert platform.keyring.shares.exists(new_share)
    sweeping = threading.Thread(target=startup_sweep, args=(platform,))
    sweeping.start()
    sweeping.join(2.0)
    if platform.settings.database_url.startswith("postgresql"):
        assert not sweeping.is_alive()  # the locked row skipped, not waited for
        assert platform.keyring.shares.exists(new_share)
    else:
        assert sweeping.is_alive()  # waiting for the write lock the replacement holds
    resume.set()
    deleting.join(30)
    sweeping.join(30)
    assert not deleting.is_alive() and not sweeping.is_alive()

    assert platform.keyring.shares.exists(new_share)
    assert not platform.keyring.shares.exists(old_share)
    assert _key(platform, owner.household_id) == (generation + 1, new_share)
    platform.keyring.forget(owner.household_id)
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
