"""Only what follows the wake word is kept: stored, transcribed, queued and served."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from overheard.audit import AuditEvent
from overheard.config import Settings
from overheard.recordings.models import Status
from overheard.review.models import ReviewTask
from overheard.speech import pipeline
from overheard.speech.wake import WAKE_THRESHOLD_FLOOR

from .wake_clips import (
    RATE_HZ,
    REQUEST,
    private_talk,
    served_to_reviewer,
    stored_audio,
    upload_and_process,
    wake_word,
)

PRIVATE_S = 15.0
"""Seconds of private talk before the wake word in the issue's clip."""
FAR_S = 21.0
"""Seconds of private talk that put the wake word past ``wake_latest_end_s`` (20 s)."""


@pytest.fixture(autouse=True)
def _registered():  # type: ignore[no-untyped-def]
    pipeline.register()


@pytest.mark.slow
@pytest.mark.data
def test_private_talk_before_the_wake_word_is_never_kept(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    private = private_talk(shared_data, PRIVATE_S)
    clip = np.concatenate([private, wake_word(shared_data), request_speech])
    received_blob = f"audio/{device.household_id}/"
    rec = upload_and_process(reviewing, device, clip)

    assert rec.status == Status.TRANSCRIBED
    kept = stored_audio(reviewing, rec)
    assert 0 < kept.size <= clip.size - private.size  # nothing before the wake word...
    np.testing.assert_array_equal(kept, clip[-kept.size :])  # ...and the request whole
    assert rec.duration_s == pytest.approx(kept.size / RATE_HZ)
    blobs = [b.key for b in reviewing.blobs.list(received_blob)]
    assert blobs == [rec.audio_blob]  # the received clip is gone from the store
    with reviewing.sessions() as s:
        trimmed = s.scalars(
            select(AuditEvent).where(
                AuditEvent.subject == rec.id, AuditEvent.action == "recording.trimmed"
            )
        ).one()
        hyp = json.loads(reviewing.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))
    assert trimmed.details["kept_from_s"] >= PRIVATE_S
    assert "light" in hyp["text"] and "alexa" not in hyp["text"]

    with reviewing.sessions() as s:
        assert s.scalars(select(ReviewTask.recording_id)).all() == [rec.id]
    served = served_to_reviewer(reviewing)
    assert served.duration_s == pytest.approx(kept.size / RATE_HZ)
    assert served.duration_s <= (clip.size - private.size) / RATE_HZ


@pytest.mark.slow
@pytest.mark.data
def test_a_wake_word_far_from_the_start_is_accidental(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    clip = np.concatenate(
        [private_talk(shared_data, FAR_S), wake_word(shared_data), request_speech]
    )
    rec = upload_and_process(reviewing, device, clip)
    assert rec.status == Status.ACCIDENTAL
    assert rec.wake_score is not None and rec.wake_score >= reviewing.settings.wake_threshold
    assert rec.audio_blob is None
    assert list(reviewing.blobs.list(f"audio/{device.household_id}/")) == []
    with reviewing.sessions() as s:
        assert s.scalars(select(ReviewTask)).all() == []


@pytest.mark.slow
@pytest.mark.data
def test_a_request_right_after_the_wake_word_keeps_its_words(
    reviewing, device, shared_data, request_speech
):  # type: ignore[no-untyped-def]
    clip = np.concatenate([wake_word(shared_data), request_speech])
    rec = upload_and_process(reviewing, device, clip)
    assert rec.status == Status.TRANSCRIBED
    kept = stored_audio(reviewing, rec)
    assert kept.size >= request_speech.size
    with reviewing.sessions() as s:
        hyp = json.loads(reviewing.gate.open_text(s, rec, "hypothesis", actor="t", purpose="t"))
    assert "light" in hyp["text"]


def test_the_wake_threshold_has_a_floor() -> None:
    assert Settings(wake_threshold=WAKE_THRESHOLD_FLOOR).wake_threshold == WAKE_THRESHOLD_FLOOR
    with pytest.raises(ValidationError):
        Settings(wake_threshold=WAKE_THRESHOLD_FLOOR - 0.01)


KEYWORD_PRIVATE = "I went to the market yesterday with my brother."
"""Said before the keyword in the keyword-mode clip."""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("latest_end_s", "status"), [(20.0, Status.TRANSCRIBED), (2.0, Status.ACCIDENTAL)]
)
def test_keyword_mode_keeps_only_what_follows_the_word(latest_end_s: float, status: Status) -> None:
    from overheard.demo import espeak_available, synthesise

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    settings = Settings(
        wake_verifier="keyword", wake_keywords="alexa,lexa", wake_latest_end_s=latest_end_s
    )
    stack = pipeline.stack_from_settings(settings)
    private = synthesise(KEYWORD_PRIVATE, "en-gb")
    clip = synthesise(f"{KEYWORD_PRIVATE} Alexa, {REQUEST}", "en-gb")
    outcome = pipeline.analyse(stack, clip)
    assert outcome.status == status, outcome.summary()
    if status is Status.TRANSCRIBED:
        assert outcome.kept_from_s is not None
        assert outcome.kept_from_s * RATE_HZ >= private.size * 0.9  # the private sentence is cut
        assert outcome.transcript is not None and "market" not in outcome.transcript.text
        assert "kitchen" in outcome.transcript.text


@pytest.mark.slow
@pytest.mark.data
def test_a_store_reported_failed_after_its_commit_keeps_the_trimmed_audio(
    reviewing, device, shared_data, request_speech, monkeypatch
):  # type: ignore[no-untyped-def]
    # A connection lost as the commit goes through reports a failure for a transaction that took
    # effect: the row names the trimmed blob, which must not be removed as if nothing had committed.
    from sqlalchemy.exc import OperationalError

    real, calls = pipeline._store_locked, []

    def committed_then_reported_failed(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, Exception("connection lost after the commit"))

    monkeypatch.setattr(pipeline, "_store_locked", committed_then_reported_failed)
    clip = np.concatenate([private_talk(shared_data, 3.0), wake_word(shared_data), request_speech])
    rec = upload_and_process(reviewing, device, clip)
    assert calls and rec.status == Status.TRANSCRIBED
    assert reviewing.blobs.exists(rec.audio_blob)
    kept = stored_audio(reviewing, rec)
    np.testing.assert_array_equal(kept, clip[-kept.size :])
