"""Fixtures for speech tests: synthetic audio built in memory."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import soundfile as sf

Tone = Callable[..., np.ndarray]
Encode = Callable[..., bytes]


@pytest.fixture
def tone() -> Tone:
    """Factory: a float32 sine, (frames,) or (frames, channels), amplitude in full-scale units."""

    def make(
        freq_hz: float = 1000.0,
        seconds: float = 0.5,
        rate_hz: int = 16000,
        amplitude: float = 0.5,
        channels: int = 1,
    ) -> np.ndarray:
        t = np.arange(round(seconds * rate_hz)) / rate_hz
        wave = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
        return wave if channels == 1 else np.repeat(wave[:, None], channels, axis=1)

    return make


@pytest.fixture
def encode_audio() -> Encode:
    """Factory: float samples encoded by libsndfile into a container, as bytes."""

    def make(
        samples: np.ndarray, rate_hz: int = 16000, fmt: str = "WAV", subtype: str = "PCM_16"
    ) -> bytes:
        out = io.BytesIO()
        sf.write(out, samples, rate_hz, format=fmt, subtype=subtype)
        return out.getvalue()

    return make


@pytest.fixture
def reviewing(platform):  # type: ignore[no-untyped-def]
    """The platform sampling every transcribed clip of a consenting household, serving on."""
    from overheard.protect import serving

    platform.settings = platform.settings.model_copy(
        update={"review_sample_rate": 1.0, "review_double_share": 0.0, "review_gold_share": 0.0}
    )
    serving.install(platform)
    return platform


@pytest.fixture
def device(platform, make_household):  # type: ignore[no-untyped-def]
    """A device of a household that turned human review on a day ago (before every clip a test
    sends, some captured minutes back: consent covers what is recorded after it)."""
    from datetime import timedelta

    from overheard.db import transaction, utcnow
    from overheard.households import Device
    from overheard.review.consent import set_human_review

    hh = make_household()
    with transaction(platform.sessions) as s:
        set_human_review(s, hh.household_id, True, actor="customer", now=utcnow() - timedelta(days=1))
        return s.get(Device, hh.device_id)


@pytest.fixture(scope="module")
def request_speech() -> np.ndarray:
    """``wake_clips.REQUEST`` spoken by espeak-ng (the test is skipped without it)."""
    from overheard.demo import espeak_available, synthesise

    from .wake_clips import REQUEST

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesise(REQUEST, "en-gb")
