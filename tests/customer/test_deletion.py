"""Deleting one, a range, or everything: one action each, a signed receipt, every copy gone."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import select

from overheard.auditlog import load_public_key, public_key_pem
from overheard.customer.receipts import verify_receipt
from overheard.db import transaction
from overheard.errors import DecryptionFailed, KeyUnavailable
from overheard.identity.service import open_identity
from overheard.keys import DataKey
from overheard.recordings import deletion
from overheard.recordings.models import DeletionReceipt, Recording, SealedText, Tombstone
from overheard.review.models import ReviewTask
from tests.accounts.conftest import START, csrf_of, submit
from tests.customer.conftest import add_recording
from tests.customer.test_dashboard import add_task


def receipt_of(owner, answer) -> dict:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    page = owner.client.get(location)
    assert page.status_code == 200
    return owner.client.get(location + "/json").json()


def test_delete_one_gives_a_signed_receipt_that_fails_when_tampered(platform, owner):
    keep = add_recording(platform, owner.device_id, "keep me")
    gone = add_recording(platform, owner.device_id, "forget me")
    add_task(platform, gone, state="queued")
    body = receipt_of(owner, submit(owner.client, "/me", f"/me/recordings/{gone.id}/delete", confirm="yes"))
    assert body["scope"] == {"kind": "one", "recording": gone.id}
    assert body["counts"]["recordings"] == 1 and body["counts"]["derived_texts"] == 2
    assert body["counts"]["review_tasks_withdrawn"] == 1
    assert body["recording_ids"] == [gone.id] and body["household_key_destroyed"] is False
    public = platform.audit_signer.public_key
    assert body["key_id"] == platform.audit_signer.key_id
    assert verify_receipt(body, load_public_key(public_key_pem(public)))
    for field, value in [("counts", {"recordings": 0}), ("household_key_destroyed", True),
                         ("at", "2020-01-01T00:00:00+00:00")]:
        forged = copy.deepcopy(body)
        forged[field] = value
        assert not verify_receipt(forged, public)
    with platform.sessions() as s:
        assert s.get(Recording, gone.id) is None and s.get(Recording, keep.id) is not None
        assert s.get(Tombstone, gone.id).receipt_id == body["receipt_id"]
        assert not s.scalars(select(SealedText).where(SealedText.recording_id == gone.id)).all()
    assert not platform.blobs.exists(gone.audio_blob)


def test_deleting_one_or_a_range_asks_first_and_deletes_nothing_until_confirmed(platform, owner):
    day = START.replace(hour=12)
    recs = [add_recording(platform, owner.device_id, f"in {i}", at=day - timedelta(days=i))
            for i in (1, 2)]
    asked = submit(owner.client, "/me", f"/me/recordings/{recs[0].id}/delete")
    assert asked.status_code == 200
    assert f"recording of {recs[0].captured_at:%Y-%m-%d %H:%M:%S}" in asked.text
    first, last = str((day - timedelta(days=2)).date()), str((day - timedelta(days=1)).date())
    ranged = submit(owner.client, "/me", "/me/delete/range", first=first, last=last)
    assert ranged.status_code == 200 and f"2 recordings captured from {first} to {last}" in ranged.text
    assert f'name="first" value="{first}"' in ranged.text and 'name="confirm" value="yes"' in ranged.text
    with platform.sessions() as s:
        assert set(s.scalars(select(Recording.id))) == {r.id for r in recs}
    confirmed = owner.client.post(
        "/me/delete/range",
        data={"first": first, "last": last, "confirm": "yes", "csrf_token": csrf_of(ranged.text)},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    with platform.sessions() as s:
        assert not set(s.scalars(select(Recording.id)))


def test_delete_a_range_of_days(platform, owner):
    day = START.replace(hour=12)
    inside = [add_recording(platform, owner.device_id, f"in {i}", at=day - timedelta(days=i))
              for i in (1, 2)]
    before = add_recording(platform, owner.device_id, "older", at=day - timedelta(days=5))
    after = add_recording(platform, owner.device_id, "today", at=day)
    first, last = (day - timedelta(days=2)).date(), (day - timedelta(days=1)).date()
    body = receipt_of(
        owner, submit(owner.client, "/me", "/me/delete/range", first=str(first), last=str(last),
               confirm="yes")
    )
    assert body["scope"]["kind"] == "range" and body["counts"]["recordings"] == 2
    assert sorted(body["recording_ids"]) == sorted(r.id for r in inside)
    with platform.sessions() as s:
        left = set(s.scalars(select(Recording.id)))
    assert left == {before.id, after.id}
    bad = submit(owner.client, "/me", "/me/delete/range", first=str(last), last=str(first))
    assert bad.status_code == 400


def test_everything_destroys_the_key_first_keeps_identity_and_a_fresh_key(platform, owner):
    recs = [add_recording(platform, owner.device_id, f"secret {i}") for i in range(3)]
    add_task(platform, recs[0], state="leased")
    with platform.sessions() as s:
        old = s.get(DataKey, owner.household_id)
        old_share, old_wrapped = old.share_id, old.wrapped
        name_before = open_identity(s, platform.keyring, owner.household_id).name
    refused = submit(owner.client, "/me/delete/everything", confirm="yes")
    assert refused.status_code == 422
    body = receipt_of(
        owner, submit(owner.client, "/me/delete/everything", confirm="delete everything")
    )
    assert body["scope"] == {"kind": "everything"} and body["household_key_destroyed"] is True
    assert body["counts"]["recordings"] == 3 and body["counts"]["review_tasks_withdrawn"] == 1
    assert body["key_generation_destroyed"] == 1 and body["key_generation_now"] == 2
    assert body["counts"]["identity_fields_resealed"] == 4  # name, account, e-mail, one serial
    assert "cannot be opened" in body["backups"]
    assert verify_receipt(body, platform.audit_signer.public_key)
    with platform.sessions() as s:
        row = s.get(DataKey, owner.household_id)
        assert row.generation == 2 and row.wrapped != old_wrapped and row.share_id != old_share
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
        assert s.scalars(select(Recording)).all() == []
        task = s.scalars(select(ReviewTask)).one()
        assert (task.state, task.recording_id) == ("withdrawn", None)
        actions = [e for e in s.scalars(select(deletion.audit.AuditEvent)
                                        .where(deletion.audit.AuditEvent.household_id
                                               == owner.household_id))]
    kinds = [e.action for e in actions]
    assert kinds.index("keys.destroy") < kinds.index("recordings.delete")
    assert not (platform.settings.data_dir / "key-shares" / old_share).exists()
    assert list(platform.blobs.list(f"audio/{owner.household_id}/")) == []
    # Said after the deletion (one said before it is refused: tests/recordings/test_ingest_api.py).
    fresh = add_recording(platform, owner.device_id, "life goes on", at=START + timedelta(hours=1))
    assert "life goes on" in owner.client.get("/me").text
    assert fresh.household_id == owner.household_id


def test_two_deletions_of_everything_at_once_keep_identity_and_one_working_key(
    platform, owner
):
    """A second "delete everything" (a second tab, a double click) read the key row before the
    first committed: on PostgreSQL it removed the first one's new key share (same generation
    name), made its own key and, the old share gone, handed nothing over, so the name, e-mail and
    serials resealed under the first one's key opened no more. It now locks the key row first,
    so it waits and shreds the first one's new generation, carrying the identity across again."""
    from overheard.customer.service import delete_all
    from tests.interleave import interleaved

    add_recording(platform, owner.device_id, "secret")
    with platform.sessions() as s:
        name_before = open_identity(s, platform.keyring, owner.household_id).name

    def again() -> deletion.Receipt:
        return delete_all(platform, owner.household_id, "customer", START)

    with interleaved(platform, again, at_commit=1):
        delete_all(platform, owner.household_id, "customer", START)
    platform.keyring.forget(owner.household_id)
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
        assert s.get(DataKey, owner.household_id).generation == 3
    fresh = add_recording(platform, owner.device_id, "life goes on", at=START + timedelta(hours=1))
    assert "life goes on" in owner.client.get("/me").text
    assert fresh.household_id == owner.household_id


def test_a_deletion_of_everything_that_fails_before_its_commit_leaves_the_key_working(
    platform, owner
):
    """The old key share is destroyed inside the shredding transaction: one that then failed
    (a lost connection, a deadlock, here the handover) rolled the key row back to a generation
    whose share was gone, so nothing of the household opened any more (its name, e-mail and
    serials, every recording, every upload since) although nothing had been deleted. The share
    is put back when the row is still the old generation."""
    add_recording(platform, owner.device_id, "secret words")
    with platform.sessions() as s:
        name_before = open_identity(s, platform.keyring, owner.household_id).name

    def failing(session, household_id, old_key, new_key):  # type: ignore[no-untyped-def]
        raise RuntimeError("the transaction fails after the old share was destroyed")

    with pytest.raises(RuntimeError):
        deletion.delete_everything(platform, owner.household_id, actor="test", handover=failing)
    platform.keyring.forget(owner.household_id)
    with platform.sessions() as s:
        assert s.get(DataKey, owner.household_id).generation == 1
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before
    assert "secret words" in owner.client.get("/me").text
    from overheard.customer.service import delete_all

    assert delete_all(platform, owner.household_id, "customer", START).body["counts"][
        "identity_fields_resealed"
    ] == 4
    with platform.sessions() as s:
        assert open_identity(s, platform.keyring, owner.household_id).name == name_before


def test_an_old_ciphertext_does_not_open_under_the_new_generation(platform, owner):
    rec = add_recording(platform, owner.device_id, "old words")
    with platform.sessions() as s:
        sealed = s.scalars(select(SealedText.sealed).where(SealedText.recording_id == rec.id)).first()
    blob = platform.blobs.get(rec.audio_blob)
    deletion.shred_household(platform, owner.household_id, actor="test")
    from overheard.crypto.aead import open_sealed

    with platform.sessions() as s:
        key = platform.keyring.data_key(s, owner.household_id)
    with pytest.raises(DecryptionFailed):
        open_sealed(key, sealed, record_id=rec.id, kind="hypothesis")
    with pytest.raises(DecryptionFailed):
        open_sealed(key, blob, record_id=rec.id, kind="audio.pcm16")


def test_every_deletion_path_runs_the_hooks(platform, owner):
    seen: list[tuple[str, int]] = []

    def hook(session, ids):
        seen.append(("hook", len(ids)))
        return {"export_memberships": len(ids)}

    deletion.DELETION_HOOKS.append(hook)
    try:
        a, b = (add_recording(platform, owner.device_id, t) for t in ("a", "b"))
        deletion.delete_recordings(platform, owner.household_id, [a.id], actor="t",
                                   scope={"kind": "one"})
        receipt = deletion.delete_everything(platform, owner.household_id, actor="t")
    finally:
        deletion.DELETION_HOOKS.remove(hook)
    assert seen == [("hook", 1), ("hook", 1)]
    assert receipt.body["counts"]["export_memberships"] == 1
    assert b.id in receipt.body["recording_ids"]


def test_a_destroyed_key_without_handover_leaves_identity_unreadable(platform, owner):
    deletion.delete_everything(platform, owner.household_id, actor="t")
    with platform.sessions() as s, pytest.raises((DecryptionFailed, KeyUnavailable)):
        open_identity(s, platform.keyring, owner.household_id)
    with transaction(platform.sessions) as s:
        assert s.get(DataKey, owner.household_id).generation == 2


def test_receipt_page_says_whether_every_copy_is_gone(platform, owner):
    from overheard.recordings.gate import ContentGate
    from tests.recordings.test_purges import FlakyStore

    first = add_recording(platform, owner.device_id, "first")
    page = owner.client.get(submit(owner.client, "/me", f"/me/recordings/{first.id}/delete", confirm="yes").headers["location"])
    assert "yes, at" in page.text.split('id="receipt-completed">')[1][:40]
    platform.blobs = FlakyStore(platform.blobs)
    platform.gate = ContentGate(platform.keyring, platform.blobs)
    platform.blobs.down = True  # the blob store refuses deletes for now
    second = add_recording(platform, owner.device_id, "second")
    page = owner.client.get(submit(owner.client, "/me", f"/me/recordings/{second.id}/delete", confirm="yes").headers["location"])
    assert "not yet: 1 copy still being removed" in page.text
    assert platform.blobs.inner.exists(second.audio_blob)


def test_a_range_with_nothing_in_it_says_so_and_offers_nothing_to_confirm(platform, owner):
    kept = add_recording(platform, owner.device_id, "keep me", at=START.replace(hour=12))
    empty = submit(owner.client, "/me", "/me/delete/range", first="2021-03-01", last="2021-03-02")
    assert empty.status_code == 200
    assert "There are no recordings captured from 2021-03-01 to 2021-03-02" in empty.text
    assert 'name="confirm"' not in empty.text and 'action="/me/delete/range"' not in empty.text
    one_day = submit(owner.client, "/me", "/me/delete/range", first="2021-03-01")
    assert "There are no recordings captured on 2021-03-01" in one_day.text
    with platform.sessions() as s:
        assert s.get(Recording, kept.id) is not None
        assert not s.scalars(select(DeletionReceipt)).all()


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
"""What a browser asks for when it sends a form or follows a link."""


def test_a_browser_is_shown_a_refusal_as_a_page_with_a_way_back(platform, owner):
    shown = owner.client.get("/me")
    backwards = {"first": "2026-12-05", "last": "2026-12-01", "csrf_token": csrf_of(shown.text)}
    page = owner.client.post("/me/delete/range", data=backwards, headers=BROWSER)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "<h1>That cannot be done</h1>" in page.text
    assert "The range must run forwards" in page.text and "Back to your household" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    for path, status in (("/me/receipts/nope", 404), ("/me?page=abc", 422)):
        answer = owner.client.get(path, headers=BROWSER)
        assert answer.status_code == status and "Back to your household" in answer.text, path
    nowhere = owner.client.get("/no/such/page", headers=BROWSER)
    assert nowhere.status_code == 404 and "<h1>Not found</h1>" in nowhere.text
    # no route ran, yet the page knows who is signed in: their header and their way back
    assert 'href="/me">Your household' in nowhere.text and "Back to your household" in nowhere.text
    device = owner.client.post("/me/delete/range", data=backwards)  # no page asked for: JSON
    assert device.status_code == 400 and device.json()["error"]["code"] == "bad_range"


def test_a_range_deleted_on_the_dashboard_stays_deleted_when_a_device_uploads_it_later(
    platform, owner
):
    """A device that was offline sends its backlog after the owner deleted those days: what was
    said in them is refused (410) and stores nothing; what was said either side is stored."""
    from datetime import UTC, datetime, time

    from overheard.households import add_device
    from tests.conftest import tone_wav

    day = START.replace(hour=12) - timedelta(days=1)
    older = add_recording(platform, owner.device_id, "older", at=day - timedelta(days=3))
    with transaction(platform.sessions) as s:
        _, token = add_device(s, owner.household_id)
    first = day.date()
    receipt_of(owner, submit(owner.client, "/me", "/me/delete/range", first=str(first),
                             last=str(first), confirm="yes"))  # fmt: skip
    start = datetime.combine(first, time.min, tzinfo=UTC)  # the household is on UTC

    def upload(at: datetime):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}", "X-Captured-At": at.isoformat()}
        return owner.client.post("/api/v1/utterances", content=tone_wav(), headers=headers)

    def stored() -> set[str]:
        with platform.sessions() as s:
            return set(s.scalars(select(Recording.id)))

    for inside in (start, day, start + timedelta(days=1, microseconds=-1)):
        refused = upload(inside)
        assert refused.status_code == 410, refused.text
        assert refused.json()["error"]["code"] == "deleted"
        assert stored() == {older.id}
    assert len(list(platform.blobs.list(f"audio/{owner.household_id}/"))) == 1
    edges = [upload(at) for at in (start - timedelta(microseconds=1), start + timedelta(days=1))]
    assert [r.status_code for r in edges] == [201, 201]
    assert stored() == {older.id, *(r.json()["id"] for r in edges)}


def test_an_upload_stored_while_everything_is_purged_keeps_its_audio(platform, owner, monkeypatch):
    """The stray blobs "delete everything" purges are those sealed under the destroyed key: an
    upload sealed under the new one, whose row commits while the purge looks for strays, is
    stored with its audio (before, its blob was purged as a stray and the upload answered 201)."""
    from overheard.households import Device
    from overheard.recordings.ingest import ingest
    from tests.conftest import tone_wav

    add_recording(platform, owner.device_id, "said before")
    shredding = deletion.shred_household(platform, owner.household_id, actor="test")
    with platform.sessions() as s:
        device = s.get_one(Device, owner.device_id)
    commit = platform.committer.run

    def purge_first(unit):  # the purge runs between the upload's blob and its row
        deletion.purge_household(platform, shredding, actor="test")
        return commit(unit)

    monkeypatch.setattr(platform.committer, "run", purge_first)
    stored = ingest(platform, device, tone_wav()).recording
    monkeypatch.undo()
    with platform.sessions() as s:
        rec = s.get_one(Recording, stored.id)
        assert platform.gate.open_audio(s, rec, actor="test", purpose="check")
        assert s.scalars(select(Recording.id)).all() == [stored.id]


def test_a_receipt_says_in_words_what_was_deleted_and_when(platform, owner):
    """The page a deletion ends on, and the dashboard's list of receipts, say in plain words what
    went; before, they showed the receipt's codes ("What: one", "Destroyed: audio_blobs,
    derived_texts, recordings", an ISO time to the microsecond) and no sentence at all."""
    import re

    first = add_recording(platform, owner.device_id, "first", at=START.replace(hour=7))
    add_recording(platform, owner.device_id, "second", at=START.replace(hour=8))
    add_task(platform, first, state="queued")

    def shown(html: str) -> str:
        main = html.split("<main", 1)[1].split('<pre id="receipt-json"', 1)[0]
        return " ".join(re.sub(r"<[^>]+>", " ", main).split())

    one = owner.client.get(submit(owner.client, "/me", f"/me/recordings/{first.id}/delete", confirm="yes").headers["location"])
    text = shown(one.text)
    assert 'id="receipt-summary"' in one.text
    assert "Deleted 1 recording, the one you chose, on 2026-03-02 at 09:00 UTC. Every copy is gone." in text
    assert "the recordings, the audio, transcripts and intents, review tasks (withdrawn)" in text
    for code in ("audio_blobs", "derived_texts", "review_tasks_withdrawn", "+00:00"):
        assert code not in text, code
    day = str(START.date())
    ranged = owner.client.get(submit(owner.client, "/me", "/me/delete/range", first=day, last=day,
                                     confirm="yes").headers["location"])  # fmt: skip
    assert f"Deleted 1 recording, captured on {day}, on 2026-03-02 at 09:00 UTC." in shown(ranged.text)
    everything = owner.client.get(submit(owner.client, "/me/delete/everything", confirm="delete everything").headers["location"])
    assert "Deleted everything: 0 recordings and your household key" in shown(everything.text)
    listed = shown(owner.client.get("/me").text)
    assert f"2026-03-02 09:00 — 1 recording, captured on {day}" in listed
    assert "2026-03-02 09:00 — 1 recording, the one you chose" in listed
    assert "one, 1 recordings" not in listed
