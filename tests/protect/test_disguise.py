"""Voice disguise: shape, determinism, randomness, edge inputs, pitch movement, real speech.

``PARAMS`` tests run the earlier ``"world"`` method; the ``knn`` tests the default method.
"""

from __future__ import annotations

import importlib.util
import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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


def make_voice(f0_hz: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A vowel-like voiced signal: harmonics of ``f0_hz`` shaped by two formants, int16."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * 4 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz * wobble) / SAMPLE_RATE_HZ
    x = np.zeros_like(t)
    for k in range(1, int(4000 / f0_hz)):
        freq = k * f0_hz
        gain = np.exp(-(((freq - 700) / 200) ** 2)) + 0.5 * np.exp(-(((freq - 1200) / 250) ** 2))
        x += (gain + 0.02) * np.sin(k * phase) / k**0.5
    x += 0.001 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * 32767 * x / np.abs(x).max()).astype(np.int16)


def median_f0(pcm: np.ndarray) -> float:
    f0 = _world.analyse(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ).f0_hz
    return float(np.median(f0[f0 > 0]))


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


def _librivox(shared_data: Path) -> list[tuple[np.ndarray, list[str]]]:
    folder = shared_data / "asr" / "librivox"
    clips = []
    for line in (folder / "transcription").read_text().splitlines():
        words = line.split("</s>")[0].replace("<s>", "").split()
        pcm, rate = sf.read(folder / f"{line.rsplit('(', 1)[1].rstrip(')')}.wav", dtype="int16")
        assert rate == SAMPLE_RATE_HZ
        clips.append((pcm, words))
    return clips


def _word_errors(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


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
    clips = _librivox(shared_data)
    rng = np.random.default_rng(3)
    n_words = sum(len(ref) for _, ref in clips)
    original = sum(_word_errors(ref, _recognise(pcm)) for pcm, ref in clips) / n_words
    disguised = (
        sum(_word_errors(ref, _recognise(disguise(pcm, draw(rng, "world")))) for pcm, ref in clips)
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

    pcm, _ = _librivox(shared_data)[0]
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(x: np.ndarray) -> np.ndarray:
        return encoder.embed_utterance(preprocess_wav(x.astype(np.float32) / 32768, 16000))

    params = DisguiseParams(240.0, 0.5, 0.1, 6.0)
    same = float(embed(pcm) @ embed(pcm[: len(pcm) // 2 * 2]))
    moved = float(embed(pcm) @ embed(disguise(pcm, params)))
    assert moved < same - 0.05


# --- the default method: nearest-neighbour conversion into a shipped target voice ---------------

KNN = KnnParams(voice="joe", k=4, f0_contour_scale=0.9, f0_shift_semitones=0.5)


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


def _ltas(pcm: np.ndarray) -> np.ndarray:
    """Long-term average log spectrum of the voiced frames in 24 mel-spaced bands, level removed."""
    analysis = _world.analyse(pcm.astype(np.float64) / 32768, SAMPLE_RATE_HZ)
    log_env = np.log(analysis.envelope[analysis.f0_hz > 0] + 1e-12).mean(axis=0)
    freqs = np.linspace(0.0, SAMPLE_RATE_HZ / 2, len(log_env))
    mel = 2595 * np.log10(1 + freqs / 700)
    edges = np.linspace(mel[1], mel[-1], 25)
    bands = np.array([log_env[(mel >= a) & (mel < b)].mean() for a, b in pairwise(edges)])
    return bands - bands.mean()


@pytest.mark.data
def test_knn_disguised_voice_is_the_targets_not_the_speakers(shared_data: Path) -> None:
    """By long-term spectrum, every disguised clip is nearer the target voice than its speaker."""
    target = _ltas((_voices.read_speech("joe") * 32767).astype(np.int16))
    for pcm, _ in _librivox(shared_data)[:3]:
        out = _ltas(disguise(pcm, KNN))
        source = _ltas(pcm)
        assert np.linalg.norm(out - target) < 0.5 * np.linalg.norm(out - source)


MAX_WER_INCREASE_KNN = 0.40
"""Allowed rise in whisper (tiny.en, the default recogniser) word error rate, ``"knnvc"``, one draw.

Development measured +0.24 … +0.32 on these clips with the 271 s pool, +0.14 … +0.16 with the
23-min pool of version 3; the goal is +0.05 (see the model card)."""


@pytest.mark.data
def test_knn_disguised_speech_stays_recognisable_by_whisper(shared_data: Path) -> None:
    from overheard.speech.asr import asr_from_spec

    asr = asr_from_spec("whisper")
    clips = _librivox(shared_data)
    rng = np.random.default_rng(3)
    n_words = sum(len(ref) for _, ref in clips)

    def errors(pcm: np.ndarray, ref: list[str]) -> int:
        return _word_errors(ref, asr.transcribe(pcm).text.split())

    original = sum(errors(pcm, ref) for pcm, ref in clips) / n_words
    disguised = sum(errors(disguise(pcm, draw(rng)), ref) for pcm, ref in clips) / n_words
    assert original < 0.15
    assert disguised <= original + MAX_WER_INCREASE_KNN
