"""The disguise benchmarks' pool analysis shared among processes gives the sequential analysis."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from overheard.protect import _voices
from tests.conftest import PROJECT_ROOT
from tests.protect.test_disguise import make_voice

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import _disguise_data as dd


def test_the_pool_analysed_in_worker_processes_is_the_sequential_analysis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_voices, "CHUNK_S", 0.8)
    gap = np.zeros(int(0.2 * _voices.SAMPLE_RATE_HZ))
    parts = [make_voice(f0, 0.9, seed=i) / 32768 for i, f0 in enumerate([110.0, 160.0, 210.0])]
    x = np.concatenate([parts[0], gap, parts[1], gap, parts[2]])
    assert len(_voices.cuts(x)) == 4  # three pieces
    sequential = _voices.analyse_coded(x)
    shared = dd.analyse_coded(x, workers=2)
    for a, b in zip(sequential, shared, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_the_gmm_attacker_with_kept_ubms_scores_as_the_trained_one() -> None:
    import _speaker_attack as sa

    rng = np.random.default_rng(0)
    # two "speakers" whose frames sit around different means
    feats = [rng.normal(loc=(i // 3) * 2.0, size=(200, 4)) for i in range(6)]
    owners = ["a"] * 3 + ["b"] * 3
    ubm = sa.GmmUbm(components=2).fit(feats)
    gmm = dd.Gmm.with_ubms({"tuning": ubm})
    scores, labels = gmm.trials(feats, feats, owners, {"a", "b"}, "tuning")
    expected = sa.loo_trials(ubm, feats, feats, owners, {"a", "b"})
    assert np.array_equal(scores, expected[0]) and np.array_equal(labels, expected[1])
    assert sa.eer(scores, labels) == 0.0
