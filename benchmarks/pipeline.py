"""Whole speech pipeline per clip (wake word + VAD + ASR + intent, as the job runs it, without storage)
beside a bare decode of the same audio with the same model, in the same run.

    python benchmarks/pipeline.py [--clips 24]

Clips are assistant requests spoken by espeak-ng voices that the wake-word model accepts, so every
clip goes through every stage. The baseline is the configured recogniser (``stack.asr``: the same
backend and model the pipeline uses) decoding exactly the samples the pipeline hands it (the request
after the wake word, silence trimmed), computed beforehand and not timed: the floor any pipeline
with that recogniser pays. A generic full-clip pocketsphinx decode is printed for reference.
Prints per-clip medians, the ratio pipeline / bare and real-time factors.
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
from overheard.speech.pipeline import (
    SpeechStack,
    after_wake_word,
    analyse,
    kept_from,
    stack_from_settings,
)
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.wake import verify_wake_word

SAMPLE_RATE_HZ = 16000


def bare_decode(decoder: Decoder, pcm: np.ndarray) -> str:
    """One full-utterance decode with the generic model, nothing else."""
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


def decoded_samples(stack: SpeechStack, pcm: np.ndarray) -> np.ndarray:
    """The samples the pipeline gives its recogniser for ``pcm`` last (as ``analyse`` cuts them)."""
    heard_from_s = None
    if stack.verifier == "openwakeword":
        wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
        end_s = wake.peak_s if wake.peak_s is not None else wake.at_s
        heard_from_s = kept_from(end_s) if end_s is not None else None
    request = after_wake_word(pcm, heard_from_s)
    segments = speech_segments(request, stack.vad)
    return trim_silence(request, segments) if segments else request


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
    pipe_s, bare_s, generic_s, audio_s, statuses = [], [], [], [], []
    for pcm in clips:
        start = time.perf_counter()
        outcome = analyse(stack, pcm)
        pipe_s.append(time.perf_counter() - start)
        same = decoded_samples(stack, pcm)
        start = time.perf_counter()
        stack.asr.transcribe(same)
        bare_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_decode(decoder, pcm)
        generic_s.append(time.perf_counter() - start)
        audio_s.append(pcm.size / SAMPLE_RATE_HZ)
        statuses.append(outcome.status)
    pipe, bare = statistics.median(pipe_s), statistics.median(bare_s)
    print(
        f"{len(clips)} clips, median {statistics.median(audio_s):.2f} s of audio; "
        f"{statuses.count(Status.TRANSCRIBED)} reached transcribed"
    )
    print(f"{'step':<34} {'median s/clip':>13} {'RTF':>7}")
    generic = statistics.median(generic_s)
    print(f"{'generic decode, whole clip (ref.)':<34} {generic:>13.3f} {sum(generic_s) / sum(audio_s):>7.3f}")
    print(f"{'bare decode, same audio + model':<34} {bare:>13.3f} {sum(bare_s) / sum(audio_s):>7.3f}")
    print(f"{'whole pipeline':<34} {pipe:>13.3f} {sum(pipe_s) / sum(audio_s):>7.3f}")
    print(f"ratio pipeline / bare (median): {pipe / bare:.2f}  (goal <= 1.3)")


if __name__ == "__main__":
    main()
