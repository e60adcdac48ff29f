"""The watermark benchmark's clips: the wake-word splits never share a recording with the fresh set."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _wm_data


def _keys(clips: list[_wm_data.Clip]) -> set[bytes]:
    return {c.pcm.tobytes() for c in clips}


@pytest.mark.data
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_wake_splits_are_disjoint_from_each_other_and_the_fresh_set(shared_data: Path) -> None:
    fresh = [c for c in _wm_data.fresh_clips(shared_data, seed=2026) if c.source == "wakeword/alexa"]
    tune = _wm_data.wake_clips(shared_data, held_out=False, seed=2026)
    held = _wm_data.wake_clips(shared_data, held_out=True, seed=2026)
    assert len(fresh) == len(_wm_data.FRESH_WAKE_FILES)
    alexa = [c for c in held if c.source == "wakeword/alexa"]
    assert abs(len(alexa) - len(tune)) <= 1 and len(tune) >= 50
    assert not _keys(fresh) & _keys(tune)
    assert not _keys(fresh) & _keys(held)
    assert not _keys(tune) & _keys(held)
    assert all(1.5 <= c.seconds <= 3.0 for c in tune + held)


def test_a_word_window_keeps_the_loudest_half_second() -> None:
    pcm = np.zeros(49152, dtype=np.int16)
    pcm[30000:38000] = 8000
    for seed in range(20):
        window = _wm_data._word_window(pcm, np.random.default_rng(seed))
        assert 1.5 * 16000 <= len(window) <= 3 * 16000
        assert int(np.sum(window.astype(np.int64) == 8000)) >= 8000
