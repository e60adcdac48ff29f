"""Audit events hold ids and hashes, never what was said or heard."""

from __future__ import annotations

import base64

from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.db import transaction
from overheard.recordings.models import Recording
from tests.conftest import tone_wav

SECRET_TEXT = "please remind me to call doctor zebrafish at nine"


def test_ingest_and_gate_reads_leave_no_content_in_the_log(client, platform, make_household):
    hh = make_household()
    wav = tone_wav(1.0)
    resp = client.post(
        "/api/v1/utterances", content=wav, headers={"Authorization": f"Bearer {hh.device_token}"}
    )
    assert resp.status_code == 201, resp.text
    with transaction(platform.sessions) as s:
        rec = s.get(Recording, resp.json()["id"])
        platform.gate.seal_text(s, rec, "hypothesis", SECRET_TEXT)
    with transaction(platform.sessions) as s:
        rec = s.get(Recording, rec.id)
        assert platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="qa") == SECRET_TEXT
        pcm = platform.gate.open_audio(s, rec, actor="t", purpose="qa")
    with platform.sessions() as s:
        events = list(s.scalars(select(AuditEvent)))
    assert {"recording.ingest", "content.open"} <= {e.action for e in events}
    dumped = "\n".join(repr(vars(e)) for e in events).encode()
    needles = [
        SECRET_TEXT.encode(),
        b"zebrafish",
        wav[44:76],
        pcm[:32],
        pcm[:32].hex().encode(),
        base64.b64encode(pcm[:30]),
        base64.b64encode(wav[44:74]),
    ]
    for needle in needles:
        assert needle not in dumped
