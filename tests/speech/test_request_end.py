"""Only the request is kept: what follows its end is cut like what came before the wake word."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.config import Settings
from overheard.recordings.models import Status
from overheard.speech import pipeline
from overheard.speech.vad import SileroVad, speech_segments, trim_silence

from .wake_clips import (
    RATE_HZ,
    private_talk,
    served_to_reviewer,
    silence,
    stored_audio,
    upload_and_process,
    wake_word,
)

REQUEST = ("set a timer for", "ten minutes")
"""Said with a hesitation between the two parts."""
HESITATION_S = 0.7
"""The hesitation: shorter than the default end of request, longer than the VAD's own pauses."""
TRAILING_S = 15.0
"""Seconds of private talk after the request in the issue's clip."""
PAUSE_S = 2.0
"""Quiet between the request and the private talk: longer than any default end of request."""
TAIL_SLACK_S = 0.5
"""Kept past the request's last sample at most (the end-pointer's pad, VAD latency)."""


@pytest.fixture(autouse=True)
def _registered():  # type: ignore[no-untyped-def]
    pipeline.register()


@pytest.fixture(scope="module")
def synthesise():  # type: ignore[no-untyped-def]
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise


def speech_only(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` without the silence espeak-ng puts around it, so the test's pauses are exact."""
    return trim_silence(pcm, speech_segments(pcm, SileroVad()))


def hypothesis(platform, rec) -> str:  # type: ignore[no-untyped-def]
    with platform.sessions() as s:
        return json.loads(platform.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))[
            "text"
        ].casefold()


def kept_from_s(platform, rec) -> float:  # type: ignore[no-untyped-def]
    """Where the kept audio starts in the received clip, as the pipeline audited it."""
    with platform.sessions() as s:
        event = s.scalars(
            select(AuditEvent).where(
                AuditEvent.subject == rec.id, AuditEvent.action == "pipeline.transcribed"
            )
        ).one()
    return float(event.details["kept_from_s"])


@pytest.mark.slow
@pytest.mark.data
def test_private_talk_after_the_request_reaches_no_reviewer(
    reviewing, device, shared_data, synthesise
):  # type: ignore[no-untyped-def]
    first, then = (speech_only(synthesise(part, "en-gb")) for part in REQUEST)
    head = np.concatenate([wake_word(shared_data), first, silence(HESITATION_S), then])
    private = private_talk(shared_data, TRAILING_S, speaker="2033")
    clip = np.concatenate([head, silence(PAUSE_S), private])
    rec = upload_and_process(reviewing, device, clip)

    assert rec.status == Status.TRANSCRIBED
    kept = stored_audio(reviewing, rec)
    start = round(kept_from_s(reviewing, rec) * RATE_HZ)
    np.testing.assert_array_equal(kept, clip[start : start + kept.size])
    assert start + kept.size <= head.size + TAIL_SLACK_S * RATE_HZ  # nothing of the private talk
    assert rec.duration_s == pytest.approx(kept.size / RATE_HZ)
    blobs = [b.key for b in reviewing.blobs.list(f"audio/{device.household_id}/")]
    assert blobs == [rec.audio_blob]  # the received clip is gone from the store
    text = hypothesis(reviewing, rec)
    assert "timer" in text and "minutes" in text  # the request is kept, hesitation and all
    assert len(text.split()) <= len(" ".join(REQUEST).split()) + 1
    served = served_to_reviewer(reviewing)
    assert served.duration_s == pytest.approx(kept.size / RATE_HZ)


@pytest.mark.slow
@pytest.mark.data
def test_speech_past_the_longest_request_is_cut_there(shared_data, synthesise) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(request_max_s=pipeline.REQUEST_MAX_FLOOR_S, request_end_silence_s=5.0)
    stack = pipeline.stack_from_settings(settings)
    # No pause anywhere: read speech runs on from the request.
    talk = private_talk(shared_data, TRAILING_S, speaker="2033")
    clip = np.concatenate([wake_word(shared_data), synthesise("what time is it", "en-us"), talk])
    outcome = pipeline.analyse(stack, clip)
    assert outcome.status == Status.TRANSCRIBED
    assert outcome.kept_from_s is not None and outcome.kept_until_s is not None
    kept_s = outcome.kept_until_s - outcome.kept_from_s
    assert kept_s <= settings.request_max_s + 1e-6
    assert outcome.transcript is not None and "time" in outcome.transcript.text.casefold()


@pytest.mark.parametrize(
    ("field", "floor"),
    [
        ("request_end_silence_s", pipeline.REQUEST_END_SILENCE_FLOOR_S),
        ("request_max_s", pipeline.REQUEST_MAX_FLOOR_S),
    ],
)
def test_the_end_of_request_settings_have_floors(field: str, floor: float) -> None:
    assert getattr(Settings(**{field: floor}), field) == floor
    with pytest.raises(ValidationError):
        Settings(**{field: floor - 0.01})


@pytest.mark.parametrize("field", ["wake_latest_end_s", "request_end_silence_s", "request_max_s"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_the_wake_and_request_bounds_must_be_finite(
    field: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An infinite bound passed every floor: ``wake_latest_end_s`` and ``request_max_s`` then cut
    nothing, and ``request_end_silence_s`` crashed the end-pointer on every clip (each left
    ``failed``, its received audio kept whole for a retry)."""
    monkeypatch.setenv(f"OVERHEARD_{field.upper()}", value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.slow
@pytest.mark.data
def test_evaluation_hears_only_the_request_the_pipeline_keeps(shared_data, synthesise) -> None:  # type: ignore[no-untyped-def]
    """Before, ``evaluate.request_audio`` cut only the wake word: a held-out clip was scored with
    whatever followed the request (a hypothesis the pipeline never made, from talk it never kept)."""
    from overheard.learn.evaluate import request_audio

    stack = pipeline.stack_from_settings(Settings())
    request = speech_only(synthesise("what time is it", "en-us"))
    talk = private_talk(shared_data, 8.0, speaker="2033")
    clip = np.concatenate([wake_word(shared_data), request, silence(PAUSE_S), talk])
    outcome = pipeline.analyse(stack, clip)
    assert outcome.kept_from_s is not None and outcome.kept_until_s is not None
    heard = request_audio(clip, stack)
    # from just after the wake word's peak (at or after where the kept audio starts) to its end
    assert heard.size <= round((outcome.kept_until_s - outcome.kept_from_s) * RATE_HZ)
    assert heard.size / RATE_HZ >= request.size / RATE_HZ
    end = round(outcome.kept_until_s * RATE_HZ)
    assert np.array_equal(heard, clip[end - heard.size : end])
