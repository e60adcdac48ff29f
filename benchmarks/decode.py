"""Cost of decode_upload on real recordings and hostile uploads, against a bare soundfile read.

Run: ``python benchmarks/decode.py [--data PATH]``. The baseline is ``soundfile.read`` of the same
bytes (decoding only: no validation, downmix, resampling or int16 conversion). Real rows need the
evaluation data (``../shared/data`` or $OVERHEARD_SHARED_DATA); synthetic rows always run.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from overheard.errors import AudioRejected
from overheard.speech.audio import decode_upload

CORPORA = ["wakeword/alexa", "wakeword/computer", "speakers/librispeech-test-other", "asr/librivox"]
ROUNDS = 5
MS_PER_S = 1000
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_ms(operation: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Fastest of ``rounds`` runs, milliseconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        operation()
        times.append((time.perf_counter() - start) * MS_PER_S)
    return min(times)


def refused(data: bytes) -> Callable[[], None]:
    """A call of decode_upload that must be refused."""

    def run() -> None:
        try:
            decode_upload(data)
        except AudioRejected:
            return
        raise AssertionError("expected a refusal")

    return run


def baseline_read(data: bytes) -> Callable[[], object]:
    """Bare soundfile decode of the same bytes (whole file, float32)."""
    return lambda: sf.read(io.BytesIO(data), dtype="float32")


def row(name: str, files: int, audio_s: float, ours_ms: float, base: str, realtime: bool) -> str:
    """One table row; ``base`` is the baseline column, already formatted."""
    speed = f"{audio_s * MS_PER_S / ours_ms:>8.0f}x" if realtime else f"{'-':>9}"
    figures = f"{files:>5} | {audio_s:>8.1f} | {ours_ms:>16.2f} | {base:>17} | {speed}"
    return f"| {name:<42} | {figures} |"


def corpus_row(root: Path, corpus: str) -> str:
    """Decode every file of one corpus; totals for the corpus."""
    paths = sorted(p for p in (root / corpus).rglob("*") if p.suffix in (".wav", ".flac"))
    blobs = [p.read_bytes() for p in paths]
    audio_s = sum(decode_upload(blob).duration_s for blob in blobs)
    ours = sum(best_ms(lambda blob=blob: decode_upload(blob)) for blob in blobs)
    base, failed = 0.0, 0
    for blob in blobs:
        try:
            base += best_ms(baseline_read(blob))
        except sf.LibsndfileError:
            failed += 1  # libFLAC stops on some real recordings; decode_upload falls back
    note = f" ({failed} fail)" if failed else ""
    return row(corpus, len(blobs), audio_s, ours, f"{base:.2f}{note}", realtime=True)


def synthetic_rows() -> list[str]:
    """Resampling and refusal costs on generated audio."""
    t = np.arange(30 * 44100) / 44100
    stereo = np.repeat((0.5 * np.sin(2 * np.pi * 1000 * t))[:, None], 2, axis=1)
    wav = _encode(stereo, 44100, "WAV")
    hour = _encode(np.zeros(3600 * 8000), 8000, "FLAC")
    wav_base = f"{best_ms(baseline_read(wav)):.2f}"
    hour_base = f"{best_ms(baseline_read(hour), rounds=1):.2f}"
    return [
        row("30 s stereo 44.1 kHz WAV (downmix, resample)", 1, 30.0,
            best_ms(lambda: decode_upload(wav)), wav_base, realtime=True),
        row("1 h FLAC at 8 kHz, refused from its header", 1, 3600.0,
            best_ms(refused(hour)), hour_base, realtime=False),
    ]  # fmt: skip


def _encode(samples: np.ndarray, rate_hz: int, fmt: str) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate_hz, format=fmt, subtype="PCM_16")
    return out.getvalue()


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("OVERHEARD_SHARED_DATA", DEFAULT_DATA))
    )
    root = parser.parse_args().data
    print("| input | files | audio s | decode_upload ms | soundfile.read ms | realtime |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for corpus in CORPORA if root.is_dir() else []:
        print(corpus_row(root, corpus))
    for line in synthetic_rows():
        print(line)


if __name__ == "__main__":
    main()
