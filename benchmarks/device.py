"""Device CPU: wake word + VAD per frame on one core, and how many real-time devices one machine runs.

Run: python benchmarks/device.py [--devices 1,8,16,32] [--seconds 6]
Baseline in the same run: the wake-word model alone on silence (what an idle device pays).
Needs ../shared/data for real clips; no server is involved (the detector is the CPU cost).
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from pathlib import Path

import numpy as np

from overheard.device.detector import Detector
from overheard.device.frames import FRAME_S, file_frames
from overheard.speech.vad import VAD_FRAME_SAMPLES, SileroVad
from overheard.speech.wake import FRAME_SAMPLES, WakeWordModel

DATA = Path(os.environ.get("OVERHEARD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def per_frame_ms(step, frames: list[np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    for frame in frames:
        step(frame)
    return 1000 * (time.process_time() - start) / len(frames)


def single_core_table(frames: list[np.ndarray]) -> list[tuple[str, float]]:
    wake, vad, detector = WakeWordModel(), SileroVad(), Detector()
    silence = [np.zeros(FRAME_SAMPLES, np.int16)] * 250
    sub = [f[:VAD_FRAME_SAMPLES] for f in frames]
    return [
        ("baseline: wake word on silence", per_frame_ms(wake.predict, silence)),
        ("wake word on speech clips", per_frame_ms(wake.predict, frames)),
        ("VAD, 2.5 sub-frames per frame", 2.5 * per_frame_ms(vad.predict, sub)),
        ("device detector on the clips", per_frame_ms(detector.feed, frames)),
    ]


def device_loop(frames: list[np.ndarray], seconds: float, lags: list[float]) -> None:
    detector, start, index, worst = Detector(), time.monotonic(), 0, 0.0
    while index * FRAME_S < seconds:
        delay = start + index * FRAME_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        worst = max(worst, -delay)
        detector.feed(frames[index % len(frames)])
        index += 1
    lags.append(worst)


def concurrent_devices(frames: list[np.ndarray], count: int, seconds: float) -> tuple[float, float]:
    lags: list[float] = []
    offsets = [random.Random(i).randrange(len(frames)) for i in range(count)]
    threads = [threading.Thread(target=device_loop, args=(frames[o:] + frames[:o], seconds, lags))
               for o in offsets]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(lags), (time.process_time() - cpu) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="1,8,16,32,48")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    clips = sorted((DATA / "wakeword" / "alexa").glob("*.flac"))[:20]
    clips += sorted((DATA / "speakers" / "librispeech-test-other").glob("*/*.flac"))[:5]
    frames = list(file_frames(clips))
    print(f"{len(frames)} frames ({len(frames) * FRAME_S:.0f} s) of real clips; {os.cpu_count()} cores")
    print(f"{'one core':<34} {'ms/frame':>9} {'frames/s':>9} {'RTF':>7}")
    for name, ms in single_core_table(frames):
        print(f"{name:<34} {ms:9.2f} {1000 / ms:9.0f} {ms / (1000 * FRAME_S):7.3f}")
    print(f"\n{'real-time devices':>17} {'worst lag s':>12} {'CPU cores used':>15}")
    for count in (int(n) for n in args.devices.split(",")):
        lag, cores = concurrent_devices(frames, count, args.seconds)
        print(f"{count:>17} {lag:12.2f} {cores:15.2f}")


if __name__ == "__main__":
    main()
