"""Ingest throughput: 3-second clips uploaded by 1, 8 and 32 concurrent devices to a real
`overheard serve`, on the embedded default (SQLite + local blobs) and on PostgreSQL, beside the bare
steps (decode + AES-GCM + fsync'd durable write) run with the same concurrency in the same run.

    python benchmarks/ingest.py [--uploads 240] [--devices 1,8,32] [--no-postgres]

Processing is switched off on the server (``OVERHEARD_WORKERS=0``): ingest never waits for it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from _databases import databases

from overheard.blobs import LocalBlobStore
from overheard.crypto.aead import new_data_key, seal
from overheard.speech.audio import decode_upload, to_wav_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_live_server import Server, enrol

CLIP_S = 3.0


def clip(seed: int) -> bytes:
    """A 3-second 16 kHz clip of speech-like noise (what ingest does is independent of content)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(CLIP_S * 16000)) / 16000
    voice = np.sin(2 * np.pi * (120 + 40 * np.sin(3 * t)) * t) * (0.5 + 0.5 * np.sin(5 * t))
    pcm = (voice * 8000 + rng.normal(0, 300, t.size)).astype(np.int16)
    return to_wav_bytes(pcm)


def bare(clips: list[bytes], devices: int, uploads: int, root: Path) -> float:
    """Uploads/s of the bare steps: decode, seal, durable blob write."""
    store, key = LocalBlobStore(root), new_data_key()

    def one(i: int) -> None:
        pcm = decode_upload(clips[i % len(clips)]).pcm.tobytes()
        rid = uuid.uuid4().hex
        store.put(f"audio/bench/{rid}", seal(key, pcm, record_id=rid, kind="audio.pcm16"))

    start = time.perf_counter()
    with ThreadPoolExecutor(devices) as pool:
        list(pool.map(one, range(uploads)))
    return uploads / (time.perf_counter() - start)


def platform_rate(
    server: Server, tokens: list[str], clips: list[bytes], devices: int, uploads: int
) -> float:
    """Uploads/s through HTTP to the server, ``devices`` clients at once."""

    def device(n: int) -> int:
        done = 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i in range(n, uploads, devices):
                resp = http.post(
                    "/api/v1/utterances",
                    content=clips[i % len(clips)],
                    headers={"Authorization": f"Bearer {tokens[n % len(tokens)]}"},
                )
                assert resp.status_code == 201, resp.text
                done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(devices) as pool:
        total = sum(pool.map(device, range(devices)))
    return total / (time.perf_counter() - start)


def run_backend(
    name: str,
    database_url: str | None,
    clips: list[bytes],
    work: Path,
    devices_list: list[int],
    uploads: int,
) -> list[tuple]:
    data_dir = work / name
    # A few tokens send every upload: lift the per-device rate limit, which is not measured here.
    env = {"OVERHEARD_WORKERS": "0", "OVERHEARD_UPLOAD_DEVICE_MAX_PER_WINDOW": "1000000"}
    if database_url:
        env["OVERHEARD_DATABASE_URL"] = database_url
    url = database_url or f"sqlite:///{data_dir / 'overheard.db'}"
    subprocess.run(
        [sys.executable, "-m", "overheard", "init", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    tokens = [enrol(data_dir, url)]
    server = Server(data_dir, url, **env)
    server.start()
    rows = []
    try:
        for devices in devices_list:
            rate = platform_rate(server, tokens, clips, devices, uploads)
            base = bare(clips, devices, uploads, work / f"bare-{name}-{devices}")
            rows.append((name, devices, rate, base, rate / base))
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=240)
    parser.add_argument("--devices", default="1,8,32")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    uploads, devices = args.uploads, [int(d) for d in args.devices.split(",")]
    clips = [clip(i) for i in range(16)]
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wanted = {"sqlite"} if args.no_postgres else {"sqlite", "postgresql"}
        for name, url in databases(work, wanted):
            embedded = None if name == "sqlite" else url
            rows += run_backend(name, embedded, clips, work, devices, uploads)
    print(f"{uploads} uploads of {CLIP_S:.0f}-second clips per row; nproc={os.cpu_count()}")
    print(f"{'database':<11} {'devices':>7} {'platform/s':>11} {'bare/s':>8} {'ratio':>6}")
    for name, devices, rate, base, ratio in rows:
        print(f"{name:<11} {devices:>7} {rate:>11.1f} {base:>8.1f} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
