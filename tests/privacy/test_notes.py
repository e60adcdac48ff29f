"""Staff notes about a clip are sealed with it: never plaintext on disk, gone when it is deleted.

A re-identification reason or an emergency note may repeat what was said ("the speaker named her
doctor, Dr Okonkwo ..."). They were stored as written and outlived the household's deletion.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from overheard.crypto.aead import open_sealed
from overheard.db import transaction
from overheard.errors import BadRequest, DecryptionFailed
from overheard.hazmat import reidentify
from overheard.hazmat.reidentify import ReidentifyPolicy, ReidentifyRequest
from overheard.privacy import emergency, notes
from overheard.privacy import hooks as privacy_hooks
from overheard.privacy.models import EmergencyAction
from overheard.recordings.deletion import delete_recordings
from overheard.recordings.models import SealedText
from tests.privacy._world import later, make_officer

POLICY = ReidentifyPolicy(request_ttl_s=3600, view_window_s=300, min_reason_chars=20)
REASON = "The speaker said Dr Okonkwo at Saint Brigid's must be told about the overdose."
DECISION = "Approved: Okonkwo needs to hear of it today."
CLOSING = "Passed to the hotline; Brigid's confirmed the patient is safe."
WORDS = [b"Okonkwo", b"Brigid"]


@pytest.fixture
def noted(platform, flagged):  # type: ignore[no-untyped-def]
    """A flagged clip with a re-identification request, its approval, and a closed emergency
    report, each with a note; returns (clip, request id, report id)."""
    privacy_hooks.register()
    clip, lease, report_id = flagged
    alice, bob = make_officer(platform), make_officer(platform)
    with transaction(platform.sessions) as s:
        req = reidentify.request(
            s, platform.gate, alice, task_pseudonym=lease.task.pseudonym, reason=REASON,
            policy=POLICY, now=later(20),
        )
        reidentify.decide(
            s, platform.gate, bob, req.id, approve=True, note=DECISION, policy=POLICY, now=later(30)
        )
        emergency.act(s, platform.gate, report_id, "P-1", "close", CLOSING, later(40))
    return clip, req.id, report_id


def _written(platform, request_id: str):  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        rows = [s.get_one(ReidentifyRequest, request_id)]
        return reidentify.written(s, platform.keyring, rows)[request_id]


def _closing_note(platform, report_id: str) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return emergency.actions_of(s, platform.keyring, report_id)[-1].note


def holding(root: Path, pieces: list[bytes]) -> list[str]:
    """The files under ``root`` that hold one of ``pieces``."""
    return [p.name for p in root.rglob("*") if p.is_file() and any(x in p.read_bytes() for x in pieces)]


def test_officers_read_the_notes_but_no_file_holds_their_words(platform, noted, tmp_path):  # type: ignore[no-untyped-def]
    _clip, request_id, report_id = noted
    assert _written(platform, request_id) == (REASON, DECISION)
    assert _closing_note(platform, report_id) == CLOSING
    with platform.sessions() as s:
        kinds = set(s.scalars(select(SealedText.kind).where(SealedText.kind.like("note:%"))))
        assert len(kinds) == 3
        rows = s.execute(select(ReidentifyRequest.reason, ReidentifyRequest.decision_note)).all()
        assert [tuple(r) for r in rows] == [("", None)]  # the plaintext columns are left empty
    if platform.settings.database_url.startswith("sqlite"):
        assert holding(tmp_path, WORDS) == []


@pytest.mark.parametrize("everything", [False, True], ids=["one clip", "everything"])
def test_deleting_the_clip_deletes_its_notes(platform, noted, everything: bool):  # type: ignore[no-untyped-def]
    clip, request_id, report_id = noted
    with platform.sessions() as s:
        sealed = s.scalars(select(SealedText.sealed).where(SealedText.kind == notes.reason_kind(request_id))).one()
    if everything:
        from overheard.customer.service import delete_all

        delete_all(platform, clip.household_id, "customer", later(60))
    else:
        delete_recordings(
            platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
        )
    assert _written(platform, request_id) == (notes.REMOVED, None)
    assert _closing_note(platform, report_id) == ""
    with platform.sessions() as s:
        assert s.scalars(select(SealedText.kind).where(SealedText.kind.like("note:%"))).all() == []
        if everything:  # a copy kept from before (a backup) does not open under the new key
            key = platform.keyring.data_key(s, clip.household_id)
            with pytest.raises(DecryptionFailed):
                open_sealed(key, sealed, record_id=clip.recording_id, kind=notes.reason_kind(request_id))


def test_notes_written_in_plaintext_before_are_blanked_with_their_clip(platform, noted):  # type: ignore[no-untyped-def]
    clip, request_id, report_id = noted
    with transaction(platform.sessions) as s:  # as a row from before sealing holds them
        s.execute(SealedText.__table__.delete().where(SealedText.kind.like("note:%")))
        req = s.get_one(ReidentifyRequest, request_id)
        req.reason, req.decision_note = REASON, DECISION
        for action in s.scalars(select(EmergencyAction).where(EmergencyAction.report_id == report_id)):
            action.note = CLOSING if action.action == "close" else ""
    assert _written(platform, request_id) == (REASON, DECISION)
    assert _closing_note(platform, report_id) == CLOSING
    receipt = delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    assert receipt.body["counts"]["staff_notes"] == 2
    assert _written(platform, request_id) == (notes.REMOVED, None)
    assert _closing_note(platform, report_id) == ""
    with platform.sessions() as s:
        assert s.scalars(select(EmergencyAction.note).where(EmergencyAction.note != "")).all() == []


def test_the_households_export_leaves_staff_notes_out(platform, noted):  # type: ignore[no-untyped-def]
    from overheard.customer.export import stream_export

    clip, _request_id, _report_id = noted
    archive = zipfile.ZipFile(io.BytesIO(b"".join(stream_export(platform, clip.household_id, "customer", later(60)))))
    data = json.loads(archive.read("data.json"))
    (record,) = data["recordings"]
    assert "hypothesis" in record["texts"]
    assert not any(notes.is_note(kind) for kind in record["texts"])
    assert "Okonkwo" not in json.dumps(data)


def test_no_note_is_taken_on_a_deleted_clip_and_the_report_still_closes(platform, flagged):  # type: ignore[no-untyped-def]
    clip, _lease, report_id = flagged
    delete_recordings(
        platform, clip.household_id, [clip.recording_id], actor="customer", scope={"kind": "one"}
    )
    with pytest.raises(BadRequest) as refused, transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "close", CLOSING, later(40))
    assert refused.value.code == "note_not_kept"
    with transaction(platform.sessions) as s:
        emergency.act(s, platform.gate, report_id, "P-1", "close", "", later(50))
    with platform.sessions() as s:
        assert emergency.queue(s, emergency.EmergencyPolicy(), later(60)) == []
        assert [a.action for a in emergency.actions_of(s, platform.keyring, report_id)] == ["close"]
