"""The pipeline benchmark's baseline decodes exactly the audio the pipeline's recogniser hears."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from overheard.config import Settings
from overheard.recordings.models import Status
from overheard.speech import pipeline
from tests.conftest import PROJECT_ROOT
from tests.speech.encoder_calls import count_encodes
from tests.speech.wake_clips import RATE_HZ, private_talk, silence, wake_word

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import pipeline as bench  # benchmarks/pipeline.py

PAUSE_S = 2.0
"""Longer than the default end of request: the talk after it is not the request."""


@pytest.fixture(scope="module")
def synthesise():  # type: ignore[no-untyped-def]
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise


@pytest.mark.slow
@pytest.mark.data
def test_the_baseline_is_cut_where_the_pipeline_cuts_the_request(shared_data, synthesise) -> None:  # type: ignore[no-untyped-def]
    stack = pipeline.stack_from_settings(Settings(asr="pocketsphinx"))
    request = np.concatenate([wake_word(shared_data), synthesise("what time is it", "en-gb")])
    clip = np.concatenate(
        [request, silence(PAUSE_S), private_talk(shared_data, 6.0, speaker="2033")]
    )
    with bench.heard_by(stack) as heard:
        outcome = pipeline.analyse(stack, clip)
    assert outcome.status == Status.TRANSCRIBED
    assert outcome.kept_until_s is not None  # the talk after the request was cut
    assert outcome.kept_until_s * RATE_HZ < request.size + PAUSE_S * RATE_HZ
    baseline = bench.decoded_samples(stack, clip)
    np.testing.assert_array_equal(baseline, heard[0])
    bench.same_as_heard(baseline, heard)


def test_a_baseline_longer_than_what_the_recogniser_heard_stops_the_benchmark() -> None:
    heard = np.arange(100, dtype=np.int16)
    bench.same_as_heard(heard.copy(), [heard])
    bench.same_as_heard(heard[:0], [])
    with pytest.raises(SystemExit, match="160 samples against 100"):
        bench.same_as_heard(np.arange(160, dtype=np.int16), [heard])
    with pytest.raises(SystemExit):
        bench.same_as_heard(heard, [])


@pytest.mark.slow
def test_the_bare_decode_encodes_the_audio_afresh(synthesise, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # whisper keeps the last clip's encoder output for the next recogniser of the same clip; the
    # baseline, run on the samples analyse has just encoded, must not inherit it
    stack = pipeline.stack_from_settings(Settings(asr="whisper"))
    samples = synthesise("what time is it", "en-gb")
    stack.asr.transcribe(samples)
    encoded = count_encodes(monkeypatch, stack.asr._loaded.model)
    stack.asr.transcribe(samples)
    assert encoded == []  # kept: what the benchmark's baseline used to get for free
    bench.fresh(stack)
    stack.asr.transcribe(samples)
    assert len(encoded) == 1
    bench.fresh(pipeline.stack_from_settings(Settings(asr="pocketsphinx")))  # keeps nothing
