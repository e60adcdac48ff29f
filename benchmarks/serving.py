"""Serving latency: what a reviewer waits for a 5-second clip (decrypt + watermark + WAV).

    python benchmarks/serving.py [--first 12] [--cached 60] [--data ../shared/data]

One platform in a temporary directory (SQLite, local blobs, key file). Rows:

* floor: stream the stored WAV — read the clip's plain WAV file from disk, no database, no crypto
  (what any audio server pays; the goal is serve ≤ 2× this);
* bare decrypt of the same sealed clip (blob read + AES-256-GCM open), no database;
* gate open: the audited content-gate open in its own transaction;
* watermark embed alone (the per-serve signal work);
* rendition job (off the request path): the clip opened, disguised, sealed and stored, once per
  sampled clip (each on a fresh clip);
* serve: lease check, rendition opened (audited), watermark row + audit, mark embedded, WAV encoded.

The real-time factor is the median latency divided by the clip's 5 s; the last line prints the
serve ÷ floor ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from overheard.config import Settings
from overheard.crypto.aead import open_sealed
from overheard.db import transaction
from overheard.identity.service import enrol_household
from overheard.platform import Platform, initialise
from overheard.protect import rendition, serving
from overheard.protect.watermark import embed
from overheard.recordings.gate import AUDIO_KIND
from overheard.recordings.models import Recording, Status
from overheard.review import queue
from overheard.review.consent import set_human_review
from overheard.review.policy import ReviewPolicy
from overheard.review.sampler import sample_after_transcription
from overheard.speech.audio import read_audio_file, to_wav_bytes

CLIP_S = 5.0
RATE_HZ = 16000
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = ReviewPolicy(sample_rate=1.0, household_cap=10**6, double_share=0.0, gold_share=0.0)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def speech(data: Path) -> tuple[np.ndarray, str]:
    """5 s of real read speech when the evaluation data is there, else a synthetic buzz."""
    for path in sorted((data / "speakers" / "librispeech-test-other").rglob("*.flac")):
        pcm = read_audio_file(path).pcm
        if len(pcm) >= CLIP_S * RATE_HZ:
            return np.asarray(pcm[: int(CLIP_S * RATE_HZ)], dtype=np.int16), path.name
    t = np.arange(int(CLIP_S * RATE_HZ)) / RATE_HZ
    buzz = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 25))
    return (buzz * 3000).astype(np.int16), "synthetic buzz"


def leased_clip(platform: Platform, pcm: np.ndarray, staff: str) -> tuple[str, str]:
    """A consenting household, one sealed recording, sampled and leased to ``staff``."""
    with transaction(platform.sessions) as s:
        tag = uuid.uuid4().hex
        hh = enrol_household(
            s, platform.keyring, platform.secrets, name="Bench", account=tag,
            email=f"{tag}@example.org", serial=tag,
        )  # fmt: skip
        set_human_review(s, hh.household_id, True, actor="bench", now=T0)
        rec = Recording(
            id=tag, household_id=hh.household_id, device_id=hh.device_id, captured_at=T0,
            received_at=T0, duration_s=CLIP_S, source_rate_hz=RATE_HZ, source_format="WAV/PCM_16",
            status=Status.TRANSCRIBED.value, asr_confidence=0.9, processed_at=T0,
        )  # fmt: skip
        s.add(rec)
        s.flush()
        rec.audio_blob = platform.gate.seal_audio(s, rec, pcm.astype("<i2").tobytes())
        sample_after_transcription(s, rec, POLICY, random.Random(1), T0)
        lease = queue.claim(s, staff, POLICY, rng=random.Random(2), now=T0)
        assert lease is not None
    return rec.id, lease.lease_id


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Wall time of ``n`` calls, seconds each."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def row(name: str, seconds: list[float]) -> tuple[str, float]:
    """One table row (count, p50, p99 nearest rank, real-time factor) and its p50 in seconds."""
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    p50 = statistics.median(ordered)
    text = f"| {name} | {len(ordered)} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | {p50 / CLIP_S:.4f} |"
    return text, p50


def run(platform: Platform, pcm: np.ndarray, first_n: int, cached_n: int) -> list[str]:
    """Measure every row in one run."""
    rec_id, _lease = leased_clip(platform, pcm, "R-base")
    stored_wav = Path(platform.settings.data_dir) / "stored.wav"
    stored_wav.write_bytes(to_wav_bytes(pcm))
    with platform.sessions() as s:
        rec = s.get_one(Recording, rec_id)
        key = platform.keyring.data_key(s, rec.household_id)
    blob = rec.audio_blob or ""

    def bare() -> bytes:
        return open_sealed(key, platform.blobs.get(blob), record_id=rec_id, kind=AUDIO_KIND)

    def gate() -> bytes:
        with transaction(platform.sessions) as s:
            found = s.get_one(Recording, rec_id)
            return platform.gate.open_audio(s, found, actor="bench", purpose="bench")

    def serve(lease_id: str, staff: str, at: float) -> Callable[[], object]:
        now = T0 + timedelta(seconds=at)
        return lambda: serving.clip_for_lease(platform, lease_id=lease_id, staff=staff, now=now)

    def stream_stored() -> bytes:
        with stored_wav.open("rb") as f:
            return f.read()

    def mark() -> bytes:
        return to_wav_bytes(embed(pcm, 0x5EED, platform.secrets["watermark"]))

    bare()
    floor, floor_p50 = row("floor: stream the stored WAV", timed(stream_stored, cached_n))
    rows = [floor, row("bare decrypt", timed(bare, cached_n))[0]]
    rows.append(row("gate open (audited)", timed(gate, cached_n))[0])
    rows.append(row("watermark embed + WAV alone", timed(mark, cached_n))[0])
    made: list[float] = []
    for i in range(first_n):
        staff = f"R-{i:04x}"
        fresh, lease_id = leased_clip(platform, pcm, staff)
        made += timed(lambda fresh=fresh: rendition.render(platform, fresh), 1)
    rows.append(row("rendition job (off the request path)", made)[0])
    served, serve_p50 = row("serve", timed(serve(lease_id, staff, 2 + first_n), cached_n))
    rows.append(served)
    rows.append(f"\nserve ÷ floor (p50): {serve_p50 / floor_p50:.1f}× (goal ≤ 2×)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=12, help="renditions made, each on a fresh clip")
    parser.add_argument("--cached", type=int, default=60, help="serves (and baseline runs)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    pcm, source = speech(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), workers=0).resolved()
        initialise(settings)
        platform = Platform.open(settings)
        limit = {"serve_max_per_window": args.first + args.cached + 1}
        platform.settings = settings.model_copy(update=limit)
        serving.install(platform)
        try:
            rows = run(platform, pcm, args.first, args.cached)
        finally:
            platform.close()
    print(f"clip: {CLIP_S:.0f} s of {source}; SQLite, local blobs, key file\n")
    print("| step | n | p50 ms | p99 ms | real-time factor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
