"""Voice disguise: shape, determinism, randomness, edge inputs, pitch movement, real speech.

``PARAMS`` tests run the earlier ``"world"`` method; the ``knn`` tests the default method's draws,
its conversions are in ``test_disguise_knn*.py``.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from overheard.errors import AudioRejected
from overheard.protect import _voices, _world
from overheard.protect._mcadams import mcadams
from overheard.protect.disguise import (
    DEFAULT_METHOD,
    SAMPLE_RATE_HZ,
    DisguiseConfig,
    DisguiseParams,
    KnnConfig,
    KnnParams,
    disguise,
    draw,
    draw_knn_params,
    draw_params,
)
from tests.protect._disguise_speech import librivox, make_voice, median_f0, word_errors

PARAMS = DisguiseParams(
    f0_median_hz=180.0, f0_contour_scale=0.5, warp_alpha=0.08, tilt_db_per_octave=6.0
)


def test_output_is_int16_mono_of_the_same_length() -> None:
    pcm = make_voice(120.0, seconds=0.77)
    out = disguise(pcm, PARAMS)
    assert out.dtype == np.int16 and out.shape == pcm.shape
    assert np.abs(out.astype(float)).max() > 1000


def test_same_params_give_the_same_output() -> None:
    pcm = make_voice(130.0)
    assert np.array_equal(disguise(pcm, PARAMS), disguise(pcm, PARAMS))


def test_draws_are_reproducible_from_the_rng_and_differ_between_draws() -> None:
    assert draw_params(np.random.default_rng(7)) == draw_params(np.random.default_rng(7))
    rng = np.random.default_rng(7)
    first, second = draw_params(rng), draw_params(rng)
    assert first != second
    pcm = make_voice(130.0)
    assert not np.array_equal(disguise(pcm, first), disguise(pcm, second))


def test_draws_stay_inside_the_configured_ranges() -> None:
    config = DisguiseConfig()
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = draw_params(rng, config)
        assert config.f0_median_range_hz[0] <= p.f0_median_hz <= config.f0_median_range_hz[1]
        assert config.warp_alpha_range[0] <= p.warp_alpha <= config.warp_alpha_range[1]
        assert (
            config.f0_contour_scale_range[0]
            <= p.f0_contour_scale
            <= config.f0_contour_scale_range[1]
        )
        assert config.warp_power_range[0] <= p.warp_power <= config.warp_power_range[1]
        low, high = config.mcadams_alpha_range
        assert low <= p.mcadams_alpha <= high


def test_single_value_ranges_draw_nothing() -> None:
    """Switching the power warp and McAdams pass off replays the draws made without them."""
    off = DisguiseConfig(warp_power_range=(1.0, 1.0), mcadams_alpha_range=(1.0, 1.0))
    on = DisguiseConfig(warp_power_range=(0.8, 0.95), mcadams_alpha_range=(0.8, 0.95))
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    a, b = draw_params(first, off), draw_params(second, on)
    assert (a.warp_power, a.mcadams_alpha) == (1.0, 1.0)
    assert a.f0_median_hz == b.f0_median_hz and a.warp_alpha == b.warp_alpha
    assert draw_params(first, off) != draw_params(np.random.default_rng(5), off)


def _peak_hz(pcm: np.ndarray) -> float:
    """Frequency of the strongest bin of ``pcm``'s mean WORLD envelope, hertz."""
    envelope = _world.analyse(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ).envelope
    mean = envelope.mean(axis=0)
    return float(np.argmax(mean) / (len(mean) - 1) * SAMPLE_RATE_HZ / 2)


def test_power_warp_raises_low_formants_below_the_pivot() -> None:
    """φ → φ**0.8 moves the 700 Hz formant up (to ≈ 0.9 kHz: 0.275 rad → 0.356 rad)."""
    pcm = make_voice(120.0)
    base = DisguiseParams(120.0, 1.0, 0.0, 6.0, replace_ltas=False)
    warped = DisguiseParams(120.0, 1.0, 0.0, 6.0, replace_ltas=False, warp_power=0.8)
    before, after = _peak_hz(disguise(pcm, base)), _peak_hz(disguise(pcm, warped))
    assert before == pytest.approx(700.0, abs=80.0)
    assert after == pytest.approx(700.0 * (np.pi * 700 / 8000) ** -0.2, abs=100.0)


def test_warp_source_bins_compose_allpass_and_power() -> None:
    plain = _world.warp_source_bins(513, 0.07, 1.0)
    assert np.array_equal(plain, _world.allpass_source_bins(513, 0.07))
    assert _world.warp_source_bins(513, 0.0, 1.0) == pytest.approx(np.arange(513.0))
    powered = _world.warp_source_bins(513, 0.0, 0.9)
    assert np.all(np.diff(powered) >= 0) and powered[0] == 0.0 and powered[-1] == 512.0


def test_mcadams_pass_runs_on_top_when_drawn() -> None:
    pcm = make_voice(130.0)
    with_pass = DisguiseParams(180.0, 0.5, 0.08, 6.0, mcadams_alpha=0.85)
    out = disguise(pcm, with_pass)
    assert out.dtype == np.int16 and out.shape == pcm.shape
    assert not np.array_equal(out, disguise(pcm, PARAMS))


@pytest.mark.parametrize(
    ("source_hz", "target_hz"), [(110.0, 200.0), (220.0, 120.0), (150.0, 150.0)]
)
def test_pitch_moves_to_the_drawn_median(source_hz: float, target_hz: float) -> None:
    params = DisguiseParams(target_hz, 0.5, 0.05, 6.0)
    pcm = make_voice(source_hz)
    measured = median_f0(disguise(pcm, params))
    assert median_f0(pcm) == pytest.approx(source_hz, rel=0.03)
    assert measured == pytest.approx(target_hz, rel=0.04)


@pytest.mark.parametrize("n_samples", [0, 1, 37, 400, 1600])
def test_very_short_input_keeps_its_length(n_samples: int) -> None:
    pcm = make_voice(140.0)[:n_samples]
    out = disguise(pcm, PARAMS)
    assert out.dtype == np.int16 and len(out) == n_samples


def test_silence_stays_silent() -> None:
    assert not np.any(disguise(np.zeros(8000, np.int16), PARAMS))


def test_near_silence_and_clipped_input_work() -> None:
    quiet = (make_voice(150.0).astype(np.int32) // 3000).astype(np.int16)
    assert len(disguise(quiet, PARAMS)) == len(quiet)
    clipped = np.clip(make_voice(150.0).astype(np.int32) * 20, -32768, 32767).astype(np.int16)
    out = disguise(clipped, PARAMS)
    assert out.dtype == np.int16 and len(out) == len(clipped)
    assert np.abs(out.astype(float)).max() > 10000


@pytest.mark.parametrize(
    "bad", [np.zeros(100, np.float32), np.zeros((100, 2), np.int16), np.zeros(100, np.int32)]
)
def test_rejects_anything_but_int16_mono(bad: np.ndarray) -> None:
    with pytest.raises(AudioRejected):
        disguise(bad, PARAMS)


def test_mcadams_baseline_keeps_shape_and_changes_the_signal() -> None:
    pcm = make_voice(120.0, seconds=0.5)
    out = mcadams(pcm, 0.8)
    assert out.dtype == np.int16 and out.shape == pcm.shape
    assert not np.array_equal(out, pcm)
    unchanged = mcadams(pcm, 1.0).astype(float)
    assert np.corrcoef(unchanged, pcm.astype(float))[0, 1] > 0.99


MAX_WER_INCREASE = 0.20
"""Allowed rise in pocketsphinx word error rate (fraction) on the five librivox clips, ``"world"``.

The benchmark measures +0.145 on average over draws; the goal is +0.05 (see the model card)."""


def _recognise(pcm: np.ndarray) -> list[str]:
    from pocketsphinx import Decoder

    decoder = Decoder()
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr.split() if hyp is not None else []


@pytest.mark.data
def test_disguised_speech_stays_recognisable(shared_data: Path) -> None:
    clips = librivox(shared_data)
    rng = np.random.default_rng(3)
    n_words = sum(len(ref) for _, ref in clips)
    original = sum(word_errors(ref, _recognise(pcm)) for pcm, ref in clips) / n_words
    disguised = (
        sum(word_errors(ref, _recognise(disguise(pcm, draw(rng, "world")))) for pcm, ref in clips)
        / n_words
    )
    assert disguised <= original + MAX_WER_INCREASE


@pytest.mark.data
def test_disguise_changes_the_speaker_embedding(shared_data: Path) -> None:
    if importlib.util.find_spec("resemblyzer") is None:
        pytest.skip("resemblyzer (measurement extra) is not installed")
    with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        from resemblyzer import VoiceEncoder, preprocess_wav

    pcm, _ = librivox(shared_data)[0]
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(x: np.ndarray) -> np.ndarray:
        return encoder.embed_utterance(preprocess_wav(x.astype(np.float32) / 32768, 16000))

    params = DisguiseParams(240.0, 0.5, 0.1, 6.0)
    same = float(embed(pcm) @ embed(pcm[: len(pcm) // 2 * 2]))
    moved = float(embed(pcm) @ embed(disguise(pcm, params)))
    assert moved < same - 0.05


# --- the default method: nearest-neighbour conversion into a shipped target voice ---------------


def test_the_default_draw_is_the_nearest_neighbour_method() -> None:
    assert DEFAULT_METHOD == "knnvc"
    assert isinstance(draw(np.random.default_rng(0)), KnnParams)
    assert isinstance(draw(np.random.default_rng(0), "world"), DisguiseParams)
    with pytest.raises(ValueError):
        draw(np.random.default_rng(0), "nope")


def test_knn_draws_are_reproducible_and_stay_in_range() -> None:
    config = KnnConfig()
    assert draw_knn_params(np.random.default_rng(4)) == draw_knn_params(np.random.default_rng(4))
    rng = np.random.default_rng(4)
    draws = [draw_knn_params(rng, config) for _ in range(100)]
    assert len(set(draws)) > 1
    for p in draws:
        assert p.voice in config.voices and p.voice in _voices.names()
        low, high = config.f0_contour_scale_range
        assert low <= p.f0_contour_scale <= high
        low, high = config.f0_shift_range_semitones
        assert low <= p.f0_shift_semitones <= high
