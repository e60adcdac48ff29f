"""Voice disguise, the default method: nearest-neighbour conversion into a shipped target voice.

Shape, determinism, edge inputs, pitch and the voice pool's piecewise analysis. The tests on real
speech are in ``test_disguise_knn_target.py`` and ``test_disguise_knn_wer.py``: each test file
runs in one process of a parallel run, and the three share the pool (see ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from overheard.errors import AudioRejected
from overheard.protect import _voices, _world
from overheard.protect.disguise import SAMPLE_RATE_HZ, KnnParams, disguise
from tests.protect._disguise_speech import KNN, make_voice, median_f0


def test_knn_output_is_int16_of_the_same_length_and_deterministic() -> None:
    pcm = make_voice(120.0, seconds=0.77)
    out = disguise(pcm, KNN)
    assert out.dtype == np.int16 and out.shape == pcm.shape
    assert np.abs(out.astype(float)).max() > 1000
    assert np.array_equal(out, disguise(pcm, KNN))
    other = KnnParams(voice="joe", k=4, f0_contour_scale=0.8, f0_shift_semitones=-1.0)
    assert not np.array_equal(out, disguise(pcm, other))


def test_knn_conversion_from_a_kept_analysis_is_what_disguise_returns() -> None:
    from overheard.protect import disguise as dg

    pcm = make_voice(120.0, seconds=0.77)
    x = pcm.astype(np.float64) / 32768.0
    y = dg.convert_analysed(_world.analyse(x, 16_000), _voices.features(x, KNN.encoder), KNN, x)
    out = np.clip(np.round(dg._match_level(y, x) * 32768), -32768, 32767).astype(np.int16)
    assert np.array_equal(out, disguise(pcm, KNN))


@pytest.mark.parametrize("n_samples", [0, 1, 37, 400, 1600])
def test_knn_very_short_input_keeps_its_length(n_samples: int) -> None:
    out = disguise(make_voice(140.0)[:n_samples], KNN)
    assert out.dtype == np.int16 and len(out) == n_samples


def test_knn_silence_stays_silent_and_bad_input_is_rejected() -> None:
    assert not np.any(disguise(np.zeros(8000, np.int16), KNN))
    with pytest.raises(AudioRejected):
        disguise(np.zeros(100, np.float32), KNN)
    with pytest.raises(KeyError):
        disguise(make_voice(140.0), KnnParams(voice="nobody"))


@pytest.mark.parametrize("source_hz", [100.0, 230.0])
def test_knn_pitch_is_the_target_voices_whatever_the_speakers(source_hz: float) -> None:
    """A low and a high voice both come out at the target voice's median pitch (± the shift)."""
    from overheard.protect import _knnvc

    voice = _voices.load("joe")
    expected = float(np.exp(voice.log_f0_mean) * 2 ** (KNN.f0_shift_semitones / 12))
    pcm = make_voice(source_hz)
    assert median_f0(pcm) == pytest.approx(source_hz, rel=0.03)
    f0 = _world.analyse(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ).f0_hz
    mapped = _knnvc.map_f0(f0, voice, KNN.f0_contour_scale, KNN.f0_shift_semitones)
    assert float(np.median(mapped[mapped > 0])) == pytest.approx(expected, rel=0.01)
    # Re-estimated from the output, a synthetic buzz through matched speech envelopes reads a
    # little high (100 Hz source: +8 % with the version 3 pool, where the F0 handed over is exact).
    # With the version 4 pool the 100 Hz buzz's frames match aperiodic frames of the target and
    # the output has no frame DIO calls voiced, so only the 230 Hz source is re-estimated.
    if source_hz > 200:
        assert median_f0(disguise(pcm, KNN)) == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize("residue", [0.0, 2e-4])
def test_a_voice_is_analysed_in_pieces_cut_in_its_silences(
    monkeypatch: pytest.MonkeyPatch, residue: float
) -> None:
    """Piecewise analysis (bounded memory) gives the frames of one analysis of the whole speech;
    the gaps may hold digital silence or the faint residue a lossy codec leaves there."""
    from overheard.protect import _knnvc

    n_gap = int(0.2 * SAMPLE_RATE_HZ)
    gap = residue * np.random.default_rng(7).uniform(-1, 1, n_gap)
    parts = [
        make_voice(f0, seconds=0.9, seed=i) / 32768 for i, f0 in enumerate([110.0, 160.0, 210.0])
    ]
    x = np.concatenate([parts[0], gap, parts[1], gap, parts[2]])
    monkeypatch.setattr(_voices, "CHUNK_S", 0.8)
    bounds = _voices.cuts(x)
    quiet = int(_voices.QUIET_S * SAMPLE_RATE_HZ)
    assert len(bounds) == 4 and bounds[0] == 0 and bounds[-1] == len(x)
    for cut in bounds[1:-1]:
        assert cut % 320 == 0
        assert np.all(np.abs(x[cut - quiet : cut + quiet]) < _voices.QUIET_LEVEL)
    f0, env, ap = _voices.analyse_coded(x)
    whole = _world.analyse(x, SAMPLE_RATE_HZ)
    whole_env, whole_ap = _knnvc.code(whole, SAMPLE_RATE_HZ)
    assert env.shape == whole_env.shape and ap.shape == whole_ap.shape
    voiced = whole.f0_hz > 0
    assert np.mean(np.abs(f0[voiced] / whole.f0_hz[voiced] - 1) < 0.01) > 0.95
    assert np.median(np.abs(env - whole_env)) < 0.05


def test_the_shipped_voice_is_compact_16_khz_mono_speech() -> None:
    """The target voice stays small in the repository (lossy) and long enough to be a rich pool."""
    from importlib import resources

    for name, file in _voices.VOICE_FILES.items():
        ref = resources.files("overheard.protect") / "data" / file
        assert ref.is_file() and len(ref.read_bytes()) < 4_000_000
        x = _voices.read_speech(name)
        assert x.ndim == 1 and len(x) > 20 * 60 * SAMPLE_RATE_HZ
        assert 0.01 < float(np.sqrt(np.mean(x**2))) < 0.5
