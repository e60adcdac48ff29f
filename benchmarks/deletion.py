"""Delete everything for a household of N recordings, against deleting them one by one via the API.

Run: ``python benchmarks/deletion.py [--recordings N]`` (default 10,000). Two households get the same
N recordings (0.1 s of sealed audio, a sealed hypothesis and intent each) on SQLite and local blobs,
with key shares on. One is deleted with "delete everything": time until unreadable (the key-shredding
commit) and until fully purged. The other's owner signs in and deletes each recording with
``POST /me/recordings/{id}/delete`` through the in-process ASGI client (the baseline).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from overheard.accounts import service as accounts
from overheard.config import Settings
from overheard.db import transaction
from overheard.identity.service import enrol_household
from overheard.keys import KeyRing, KeyShares
from overheard.platform import Platform, initialise
from overheard.recordings import deletion
from overheard.recordings.gate import ContentGate
from overheard.recordings.models import Recording, Status
from overheard.review import hooks
from overheard.web import create_app

DEFAULT_RECORDINGS = 10_000
BATCH = 500
CLIP_SAMPLES = 1600
"""0.1 s at 16 kHz."""
PASSWORD = "violet harbour lantern 42"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_platform(root: Path) -> Platform:
    settings = Settings(
        data_dir=root, argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1
    ).resolved()
    initialise(settings)
    plat = Platform.open(settings)
    plat.keyring = KeyRing(plat.keyring.kek, KeyShares(root / "key-shares"))
    plat.gate = ContentGate(plat.keyring, plat.blobs)
    return plat


def fill(plat: Platform, n: int) -> tuple[str, str]:
    """A household with ``n`` sealed recordings; returns (household id, device id)."""
    with transaction(plat.sessions) as s:
        hh = enrol_household(s, plat.keyring, plat.secrets, name="Bench", account=uuid.uuid4().hex,
                             email=f"{uuid.uuid4().hex}@example.org", serial=uuid.uuid4().hex)
    pcm = (np.sin(np.arange(CLIP_SAMPLES) / 5) * 8000).astype(np.int16).tobytes()
    now = datetime.now(UTC)
    for start in range(0, n, BATCH):
        with transaction(plat.sessions) as s:
            for i in range(start, min(n, start + BATCH)):
                rec = Recording(id=uuid.uuid4().hex, household_id=hh.household_id,
                                device_id=hh.device_id, captured_at=now, received_at=now,
                                duration_s=0.1, source_rate_hz=16000, source_format="WAV/PCM_16",
                                status=Status.TRANSCRIBED.value)
                rec.audio_blob = plat.gate.seal_audio(s, rec, pcm)
                s.add(rec)
                s.flush()
                plat.gate.seal_text(s, rec, "hypothesis", json.dumps({"text": f"utterance {i}"}))
                plat.gate.seal_text(s, rec, "intent", json.dumps({"intent": "note"}))
    return hh.household_id, hh.device_id


def everything(plat: Platform, household_id: str) -> tuple[float, float]:
    """Seconds until unreadable, and until fully purged."""
    start = time.perf_counter()
    shredding = deletion.shred_household(plat, household_id, actor="bench")
    unreadable = time.perf_counter() - start
    receipt = deletion.purge_household(plat, shredding, actor="bench")
    purged = time.perf_counter() - start
    assert receipt.body["counts"]["recordings"] == len(shredding.recording_ids)
    return unreadable, purged


def one_by_one(plat: Platform, household_id: str) -> float:
    """Seconds to delete every recording with one API request each, as the signed-in owner."""
    with transaction(plat.sessions) as s:
        token = accounts.invite_customer(s, household_id)
        ids = [r for (r,) in s.query(Recording.id).filter(Recording.household_id == household_id)]
    with TestClient(create_app(plat, run_workers=False), base_url="https://bench") as client:
        page = client.get(f"/invite/{token}")
        csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        client.post(f"/invite/{token}", data={"password": PASSWORD, "password_confirm": PASSWORD,
                                              "csrf_token": csrf})
        csrf = CSRF_RE.search(client.get("/me/delete/everything").text).group(1)  # type: ignore[union-attr]
        start = time.perf_counter()
        for rid in ids:
            answer = client.post(f"/me/recordings/{rid}/delete", data={"csrf_token": csrf},
                                 follow_redirects=False)
            assert answer.status_code == 303, answer.text
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=DEFAULT_RECORDINGS)
    n = parser.parse_args().recordings
    hooks.register()
    with tempfile.TemporaryDirectory() as tmp:
        plat = make_platform(Path(tmp) / "data")
        try:
            t0 = time.perf_counter()
            bulk_hh, _ = fill(plat, n)
            api_hh, _ = fill(plat, n)
            setup = time.perf_counter() - t0
            unreadable, purged = everything(plat, bulk_hh)
            api = one_by_one(plat, api_hh)
        finally:
            plat.close()
    print(f"households of {n} recordings each (set-up {setup:.1f} s), SQLite + local blobs\n")
    print(f"{'method':<44} {'seconds':>9} {'per recording':>14}")
    rows = [
        ("delete everything: until unreadable", unreadable),
        ("delete everything: until fully purged", purged),
        ("one by one via POST /me/recordings/{id}/delete", api),
    ]
    for name, secs in rows:
        print(f"{name:<44} {secs:>9.3f} {secs / n * 1000:>11.3f} ms")
    print(f"\nratio one-by-one / everything purged: {api / purged:.1f}x")
    print(f"ratio one-by-one / everything unreadable: {api / unreadable:.0f}x")


if __name__ == "__main__":
    main()
