"""The nearest-neighbour conversion's matching: neighbours in context, weights, what is kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from overheard.protect import _content, _knnvc, _world
from overheard.protect.disguise import SAMPLE_RATE_HZ


def _voice(n: int, dims: int, seed: int) -> _knnvc.TargetVoice:
    rng = np.random.default_rng(seed)
    return _knnvc.TargetVoice(
        "test",
        _knnvc.unit_rows(rng.standard_normal((n, dims))),
        rng.standard_normal((n, _knnvc.SUBFRAMES, _knnvc.ENVELOPE_DIMS)).astype(np.float32),
        rng.uniform(-10, 0, (n, _knnvc.SUBFRAMES, 1)).astype(np.float32),
        np.log(120.0),
        0.1,
        np.zeros((10, dims), np.float32),
    )


def _brute_force(source: np.ndarray, pool: np.ndarray, k: int, context: int) -> list[set[int]]:
    """Top-k by cosine of frames concatenated with their neighbours (source edges repeated,
    pool neighbours past either end count as zero vectors)."""

    def stacked(x: np.ndarray, pad_edge: bool) -> np.ndarray:
        n, cols = len(x), []
        for offset in range(-context, context + 1):
            idx = np.arange(n) + offset
            if pad_edge:
                cols.append(x[np.clip(idx, 0, n - 1)])
            else:
                part = np.zeros_like(x)
                ok = (idx >= 0) & (idx < n)
                part[ok] = x[idx[ok]]
                cols.append(part)
        return np.concatenate(cols, axis=1)

    sims = stacked(source, True) @ stacked(pool, False).T
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sims]


@pytest.mark.parametrize("context", [0, 1, 2])
def test_nearest_is_the_cosine_of_frames_with_their_neighbours(
    monkeypatch: pytest.MonkeyPatch, context: int
) -> None:
    monkeypatch.setattr(_knnvc, "_BLOCK", 7)  # several blocks, the last one short
    voice = _voice(300, 16, seed=1)
    source = _knnvc.unit_rows(np.random.default_rng(2).standard_normal((30, 16)))
    picks, sims = _knnvc.nearest(source, voice, 4, context)
    assert picks.shape == sims.shape == (30, 4)
    assert [set(row.tolist()) for row in picks] == _brute_force(source, voice.features, 4, context)
    if context == 0:
        exact = np.take_along_axis(source @ voice.features.T, picks, axis=1)
        assert np.allclose(sims, exact, atol=1e-5)


def test_neighbours_in_context_pick_the_frame_whose_surroundings_match() -> None:
    """Two pool frames identical to the source frame: the one whose neighbours match wins."""
    rng = np.random.default_rng(3)
    a, b, c, x, y = _knnvc.unit_rows(rng.standard_normal((5, 16)))
    pool = np.stack([x, b, y, rng.standard_normal(16), a, b, c, x])  # b at 1 (wrong) and 5 (right)
    voice = replace(_voice(len(pool), 16, seed=4), features=_knnvc.unit_rows(pool))
    source = np.stack([a, b, c])
    alone, _ = _knnvc.nearest(source, voice, 1, 0)
    in_context, _ = _knnvc.nearest(source, voice, 1, 1)
    assert alone[1, 0] in (1, 5)
    assert in_context[1, 0] == 5


def test_weights_are_equal_without_temperature_and_favour_the_closest_with_it() -> None:
    sims = np.array([[0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.5, 0.5]], np.float32)
    assert np.allclose(_knnvc.weights(sims, 0.0), 0.25)
    w = _knnvc.weights(sims, 0.05)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.all(np.diff(w[0]) < 0) and w[0, 0] > 0.5
    assert np.allclose(w[1], 0.25)
    assert np.all(_knnvc.weights(sims, 0.5)[0] < w[0, 0])  # a higher temperature is flatter


def _analysis(seconds: float = 0.5) -> _world.Analysis:
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    noise = np.random.default_rng(5).standard_normal(len(t))
    x = 0.3 * np.sin(2 * np.pi * 150 * t) * (t < seconds / 2) + 0.05 * noise
    return _world.analyse(x, SAMPLE_RATE_HZ)


def test_convert_takes_the_pool_aperiodicity_unless_told_to_keep_the_speakers() -> None:
    analysis = _analysis()
    n_content = int(np.ceil(len(analysis.f0_hz) / _knnvc.SUBFRAMES))
    voice = _voice(200, 16, seed=6)
    features = np.random.default_rng(7).standard_normal((n_content, 16)).astype(np.float32)
    common = {"k": 4, "contour_scale": 1.0, "rate": SAMPLE_RATE_HZ}
    pooled = _knnvc.convert(analysis, features, voice, **common)
    kept = _knnvc.convert(analysis, features, voice, source_aperiodicity=True, **common)
    assert np.array_equal(kept.aperiodicity, analysis.aperiodicity)
    assert not np.allclose(pooled.aperiodicity, analysis.aperiodicity)
    assert np.array_equal(kept.envelope, pooled.envelope)
    assert np.array_equal(kept.f0_hz, pooled.f0_hz)


def test_convert_with_equal_weights_is_the_plain_mean_of_the_matched_frames() -> None:
    analysis = _analysis()
    n_content = int(np.ceil(len(analysis.f0_hz) / _knnvc.SUBFRAMES))
    voice = _voice(200, 16, seed=8)
    features = np.random.default_rng(9).standard_normal((n_content, 16)).astype(np.float32)
    out = _knnvc.convert(analysis, features, voice, k=4, contour_scale=1.0, rate=SAMPLE_RATE_HZ)
    picks, _ = _knnvc.nearest(_knnvc.centre(features, voice.position_mean), voice, 4)
    env = voice.envelope[picks].mean(axis=1).reshape(-1, _knnvc.ENVELOPE_DIMS)
    fft_size = (analysis.envelope.shape[1] - 1) * 2
    n = len(analysis.f0_hz)
    expected, _ = _knnvc.decode(env[:n], np.zeros((n, 1)), SAMPLE_RATE_HZ, fft_size)
    assert np.allclose(out.envelope, expected, rtol=1e-4)
    weighted = _knnvc.convert(
        analysis, features, voice, k=4, contour_scale=1.0, temperature=0.01, rate=SAMPLE_RATE_HZ
    )
    assert not np.allclose(weighted.envelope, out.envelope, rtol=1e-4)


def test_a_voice_can_be_matched_by_another_encoders_features() -> None:
    voice = _voice(100, 16, seed=10)
    other = np.random.default_rng(11).standard_normal((120, 24)).astype(np.float32)
    moved = _knnvc.with_features(voice, other, window=10)
    assert moved.features.shape == (100, 24) and moved.position_mean.shape == (10, 24)
    assert np.allclose(np.linalg.norm(moved.features, axis=1), 1.0, atol=1e-5)
    assert np.shares_memory(moved.envelope, voice.envelope)
    assert moved.log_f0_mean == voice.log_f0_mean and moved.log_f0_std == voice.log_f0_std


def test_the_content_encoders_are_the_recognisers_model_packages() -> None:
    from overheard.speech import _whisper

    assert _content.ENCODERS["base"] == _whisper.DEFAULT_PACKAGE
    assert _content.ENCODERS["tiny.en"] == _whisper.TINY_PACKAGE
    with pytest.raises(KeyError):
        _content.whisper_features(np.zeros(16000), encoder="large")
