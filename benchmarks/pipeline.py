"""Whole speech pipeline per clip (wake word + VAD + ASR + intent, as the job runs it, without storage)
beside a bare pocketsphinx decode (generic en-us model) of the same clip, in the same run.

    python benchmarks/pipeline.py [--clips 24]

Clips are assistant requests spoken by espeak-ng voices that the wake-word model accepts, so every
clip goes through every stage. Prints per-clip medians, the ratio pipeline / bare and real-time factors.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from pocketsphinx import Decoder

from overheard.config import Settings
from overheard.demo import WAKE_VOICES, seed_requests, synthesise
from overheard.recordings.models import Status
from overheard.speech.pipeline import analyse, stack_from_settings

SAMPLE_RATE_HZ = 16000


def bare_decode(decoder: Decoder, pcm: np.ndarray) -> str:
    """One full-utterance decode with the generic model, nothing else."""
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    args = parser.parse_args()
    texts = seed_requests()
    rng = np.random.default_rng(3)
    clips = [
        synthesise(f"Alexa, {texts[int(rng.integers(len(texts)))]}", WAKE_VOICES[i % 2])
        for i in range(args.clips)
    ]
    stack = stack_from_settings(Settings())
    decoder = Decoder(loglevel="ERROR")
    analyse(stack, clips[0])  # load every model once before timing
    bare_decode(decoder, clips[0])
    pipe_s, bare_s, audio_s, statuses = [], [], [], []
    for pcm in clips:
        start = time.perf_counter()
        outcome = analyse(stack, pcm)
        pipe_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_decode(decoder, pcm)
        bare_s.append(time.perf_counter() - start)
        audio_s.append(pcm.size / SAMPLE_RATE_HZ)
        statuses.append(outcome.status)
    pipe, bare = statistics.median(pipe_s), statistics.median(bare_s)
    print(
        f"{len(clips)} clips, median {statistics.median(audio_s):.2f} s of audio; "
        f"{statuses.count(Status.TRANSCRIBED)} reached transcribed"
    )
    print(f"{'step':<34} {'median s/clip':>13} {'RTF':>7}")
    print(f"{'bare pocketsphinx (generic)':<34} {bare:>13.3f} {sum(bare_s) / sum(audio_s):>7.3f}")
    print(f"{'whole pipeline':<34} {pipe:>13.3f} {sum(pipe_s) / sum(audio_s):>7.3f}")
    print(f"ratio pipeline / bare (median): {pipe / bare:.2f}  (goal <= 1.3)")


if __name__ == "__main__":
    main()
