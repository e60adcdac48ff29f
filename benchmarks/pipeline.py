"""Whole speech pipeline per clip (wake word + VAD + ASR + intent, as the job runs it, without storage)
beside a bare decode of the same audio with the same model, in the same run.

    python benchmarks/pipeline.py [--clips 24]

Clips are assistant requests spoken by espeak-ng voices that the wake-word model accepts, so every
clip goes through every stage; every second one goes on, after a pause that ends the request, with
talk not meant for the assistant, which the pipeline cuts before recognition. The baseline is the
configured recogniser (``stack.asr``: the same backend and model the pipeline uses) decoding exactly
the samples the pipeline hands it (from the wake word's peak to the request's end, silence trimmed:
cut by the pipeline's own functions), computed beforehand and not timed: the floor any pipeline with
that recogniser pays. Each clip checks that these are the very samples ``analyse`` handed the
recogniser, and stops otherwise. A generic full-clip pocketsphinx decode is printed for reference.
Prints per-clip medians, the ratio pipeline / bare and real-time factors. Measures the
``openwakeword`` verifier (the default).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from pocketsphinx import Decoder

from overheard.config import Settings
from overheard.demo import ACCIDENTAL_SPEECH, WAKE_VOICES, seed_requests, synthesise
from overheard.recordings.models import Status
from overheard.speech.asr import Transcript
from overheard.speech.pipeline import (
    SpeechStack,
    after_wake,
    analyse,
    heard_request,
    stack_from_settings,
)
from overheard.speech.vad import speech_segments, trim_silence
from overheard.speech.wake import verify_wake_word

SAMPLE_RATE_HZ = 16000
PAUSE_AFTER_S = 2.0
"""Quiet between a request and the talk after it: longer than the default end of request (1.2 s)."""


def bare_decode(decoder: Decoder, pcm: np.ndarray) -> str:
    """One full-utterance decode with the generic model, nothing else."""
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


def decoded_samples(stack: SpeechStack, pcm: np.ndarray) -> np.ndarray:
    """The samples the pipeline gives its recogniser for ``pcm`` (as ``analyse`` cuts them: from
    after the wake word's peak to the request's end, silence trimmed); empty when it gives none."""
    if stack.verifier != "openwakeword":
        raise SystemExit("the benchmark measures the openwakeword verifier")
    wake = verify_wake_word(pcm, stack.wake, stack.wake_threshold)
    if not wake.detected or wake.at_s is None or wake.at_s > stack.wake_latest_end_s:
        return pcm[:0]
    request, _ = heard_request(stack, pcm, *after_wake(wake))
    segments = speech_segments(request, stack.vad)
    return trim_silence(request, segments) if segments else request[:0]


@contextmanager
def heard_by(stack: SpeechStack) -> Iterator[list[np.ndarray]]:
    """Every array handed to the recogniser's ``transcribe`` while the block runs, in order."""
    asr = stack.asr
    transcribe = asr.transcribe
    heard: list[np.ndarray] = []

    def recording(pcm: np.ndarray) -> Transcript:
        heard.append(pcm)
        return transcribe(pcm)

    asr.transcribe = recording  # type: ignore[method-assign]
    try:
        yield heard
    finally:
        del asr.transcribe


def fresh(stack: SpeechStack) -> None:
    """Forget the recogniser's kept encoder output (whisper keeps the last clip's for the next
    recogniser of the same clip): without this the bare decode, run on the samples ``analyse`` has
    just encoded, would skip the encoder, most of a short clip's cost."""
    forget = getattr(stack.asr, "forget_encoding", None)  # pocketsphinx keeps nothing
    if forget is not None:
        forget()


def same_as_heard(same: np.ndarray, heard: list[np.ndarray]) -> None:
    """Stop unless ``same`` is what the pipeline's recogniser heard (nothing, or one request)."""
    first = heard[0] if heard else same[:0]
    if not np.array_equal(same, first):
        raise SystemExit(
            f"the baseline's audio is not the pipeline's: {same.size} samples against {first.size}"
        )


def with_talk_after(request: np.ndarray, voice: str, n: int) -> np.ndarray:
    """``request``, a pause that ends it, then talk not meant for the assistant (which the pipeline
    cuts before recognition), in the same voice."""
    pause = np.zeros(round(PAUSE_AFTER_S * SAMPLE_RATE_HZ), dtype=np.int16)
    talk = synthesise(ACCIDENTAL_SPEECH[n % len(ACCIDENTAL_SPEECH)], voice)
    return np.concatenate([request, pause, talk])


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
    for i in range(1, len(clips), 2):
        clips[i] = with_talk_after(clips[i], WAKE_VOICES[i % 2], i // 2)
    stack = stack_from_settings(Settings())
    decoder = Decoder(loglevel="ERROR")
    analyse(stack, clips[0])  # load every model once before timing
    bare_decode(decoder, clips[0])
    pipe_s, bare_s, generic_s, audio_s, heard_s, statuses = [], [], [], [], [], []
    pipe_cpu, bare_cpu = [], []
    for pcm in clips:
        fresh(stack)
        with heard_by(stack) as heard:
            start, cpu = time.perf_counter(), time.process_time()
            outcome = analyse(stack, pcm)
            pipe_s.append(time.perf_counter() - start)
            pipe_cpu.append(time.process_time() - cpu)
        same = decoded_samples(stack, pcm)
        same_as_heard(same, heard)
        heard_s.append(same.size / SAMPLE_RATE_HZ)
        fresh(stack)
        start, cpu = time.perf_counter(), time.process_time()
        stack.asr.transcribe(same)
        bare_s.append(time.perf_counter() - start)
        bare_cpu.append(time.process_time() - cpu)
        start = time.perf_counter()
        bare_decode(decoder, pcm)
        generic_s.append(time.perf_counter() - start)
        audio_s.append(pcm.size / SAMPLE_RATE_HZ)
        statuses.append(outcome.status)
    pipe, bare = statistics.median(pipe_s), statistics.median(bare_s)
    print(
        f"{len(clips)} clips, median {statistics.median(audio_s):.2f} s of audio; "
        f"{args.clips // 2} with talk after the request; "
        f"{statuses.count(Status.TRANSCRIBED)} reached transcribed; the recogniser heard a median "
        f"{statistics.median(heard_s):.2f} s, the same samples as the bare decode on every clip"
    )
    print(f"{'step':<34} {'median s/clip':>13} {'RTF':>7}")
    generic = statistics.median(generic_s)
    print(f"{'generic decode, whole clip (ref.)':<34} {generic:>13.3f} {sum(generic_s) / sum(audio_s):>7.3f}")
    print(f"{'bare decode, same audio + model':<34} {bare:>13.3f} {sum(bare_s) / sum(audio_s):>7.3f}")
    print(f"{'whole pipeline':<34} {pipe:>13.3f} {sum(pipe_s) / sum(audio_s):>7.3f}")
    print(f"ratio pipeline / bare (median): {pipe / bare:.2f}  (goal <= 1.3)")
    # CPU seconds (every thread of this process) move less than wall time on a busy machine.
    print(f"ratio pipeline / bare, CPU time (median): {ratio(pipe_cpu, bare_cpu):.2f}")
    for name, first in (("requests alone", 0), ("talk after the request", 1)):
        wall = ratio(pipe_s[first::2], bare_s[first::2])
        cpu = ratio(pipe_cpu[first::2], bare_cpu[first::2])
        print(f"  {name:<24} wall {wall:.2f}, CPU {cpu:.2f}")


def ratio(pipe: list[float], bare: list[float]) -> float:
    """Median pipeline time over median bare-decode time."""
    return statistics.median(pipe) / statistics.median(bare)


if __name__ == "__main__":
    main()
