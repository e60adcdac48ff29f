"""Delete everything for a household of N recordings, against the fastest bulk delete of the same data.

Run: ``python benchmarks/deletion.py [--recordings N] [--api N]`` (default 10,000 and 1,000). Households
get the same N recordings (0.1 s of sealed audio, a sealed hypothesis and intent each) on SQLite and
local blobs, with key shares on:

* baseline, the floor: a bare bulk delete — one SQL transaction deleting the household's rows
  (``DELETE … WHERE household_id = ?``; sealed texts go by cascade), then the household's blob folder
  removed with ``shutil.rmtree`` (no audit, no receipt, no hooks, no key destruction);
* "delete everything": time until unreadable (the key-shredding commit) and until fully purged;
* for scale, the owner deleting recordings one by one with ``POST /me/recordings/{id}/delete``
  through the in-process ASGI client (``--api`` of them, per-recording time extrapolated).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import delete

from overheard.accounts import service as accounts
from overheard.config import Settings
from overheard.db import transaction
from overheard.identity.service import enrol_household
from overheard.keys import KeyRing, KeyShares
from overheard.platform import Platform, initialise
from overheard.recordings import deletion
from overheard.recordings.gate import ContentGate
from overheard.recordings.models import Recording, Status
from overheard.tasks import register_hooks
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


def bare_bulk(plat: Platform, household_id: str) -> float:
    """Seconds for the fastest bulk delete: one SQL transaction, then one folder removed."""
    start = time.perf_counter()
    with transaction(plat.sessions) as s:
        s.execute(delete(Recording).where(Recording.household_id == household_id))
    shutil.rmtree(Path(plat.settings.data_dir) / "blobs" / "audio" / household_id)
    return time.perf_counter() - start


def one_by_one(plat: Platform, household_id: str, limit: int) -> float:
    """Seconds to delete ``limit`` recordings with one API request each, as the signed-in owner."""
    with transaction(plat.sessions) as s:
        token = accounts.invite_customer(s, household_id)
        ids = [r for (r,) in s.query(Recording.id).filter(Recording.household_id == household_id)]
    ids = ids[:limit]
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
    parser.add_argument("--api", type=int, default=1000, help="recordings deleted one by one")
    args = parser.parse_args()
    n = args.recordings
    register_hooks()  # every hook a deletion runs, as the web process has them
    with tempfile.TemporaryDirectory() as tmp:
        plat = make_platform(Path(tmp) / "data")
        try:
            t0 = time.perf_counter()
            bare_hh, _ = fill(plat, n)
            bulk_hh, _ = fill(plat, n)
            api_hh, _ = fill(plat, min(n, args.api))
            setup = time.perf_counter() - t0
            bare = bare_bulk(plat, bare_hh)
            unreadable, purged = everything(plat, bulk_hh)
            api_n = min(n, args.api)
            api = one_by_one(plat, api_hh, api_n) * n / api_n
        finally:
            plat.close()
    print(f"households of {n} recordings each (set-up {setup:.1f} s), SQLite + local blobs\n")
    print(f"{'method':<52} {'seconds':>9} {'per recording':>14}")
    rows = [
        ("baseline: bare bulk DELETE + rmtree (no audit)", bare),
        ("delete everything: until unreadable", unreadable),
        ("delete everything: until fully purged", purged),
        (f"one by one via the API (from {api_n}, extrapolated)", api),
    ]
    for name, secs in rows:
        print(f"{name:<52} {secs:>9.3f} {secs / n * 1000:>11.3f} ms")
    print(f"\nratio everything purged / bare bulk: {purged / bare:.1f}x")
    print(f"ratio everything unreadable / bare bulk: {unreadable / bare:.2f}x")
    print(f"ratio one-by-one / everything purged: {api / purged:.1f}x")


if __name__ == "__main__":
    main()
