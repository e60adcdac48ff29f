"""Voice disguise: reviewers understand the words without learning the person.

Every clip sampled for review is resynthesised once, in a job. The default method (``"knnvc"``)
converts it into a shipped synthetic target voice: each 20 ms frame is described by Whisper
encoder features (what is said), the nearest frames of the target voice saying the same thing are
looked up, and the clip is rebuilt through the WORLD vocoder from *their* spectral envelope and
aperiodicity, with the speaker's pitch contour moved onto the target's range. Every speaker comes
out in the same voice, which is nobody's who uses the system.

The earlier method (``"world"``: random pitch target and frequency warps of the speaker's own
envelope) is kept for comparison; it leaves far more of the speaker in the clip.
See docs/models/voice-disguise.md for what this does and does not hide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overheard.errors import AudioRejected
from overheard.protect import _knnvc, _voices, _world

DISGUISE_VERSION = 4
"""Version of the default method; raise it when a change should re-make every stored rendition."""
METHOD_VERSIONS = {"world": 1, "knnvc": DISGUISE_VERSION}
"""The version a rendition made by each method is stored under (``world`` was version 1; ``knnvc``
was 2 with the 270 s target pool, 3 with the 23-min one, 4 with its HWU64 requests replaced by
the project's own and the pool stored as Ogg Opus)."""
SAMPLE_RATE_HZ = 16000
"""The rate clips are stored and served at, hertz."""
MIN_ANALYSIS_S = 0.1
"""Shorter inputs are padded with silence to this length before analysis, seconds."""
_FULL_SCALE = 32768.0


DEFAULT_METHOD = "knnvc"
"""The method renditions are made with."""


@dataclass(frozen=True)
class KnnConfig:
    """Choices and ranges each clip's nearest-neighbour parameters are drawn from."""

    voices: tuple[str, ...] = ("joe",)
    """Target voices a clip may be converted into (one picked at random per clip)."""
    k: int = 4
    """Target frames averaged per source frame."""
    f0_contour_scale_range: tuple[float, float] = (0.8, 1.0)
    """Multiplier on the speaker's normalised log-pitch excursions (1 keeps the intonation)."""
    f0_shift_range_semitones: tuple[float, float] = (-1.0, 1.0)
    """Shift of the target voice's median pitch, semitones."""
    smooth_frames: int = 1
    """Width of the moving average over the converted envelope, 5 ms frames (1 = none)."""
    encoder: str = "tiny.en"
    """Whisper encoder whose output frames are matched (``_content.ENCODERS``)."""
    context: int = 0
    """Neighbouring content frames on each side compared along with a frame (0 = the frame alone)."""
    temperature: float = 0.0
    """Softmax temperature on the matched frames' cosines for their averaging weights (0 = mean)."""
    source_aperiodicity: bool = False
    """Keep the speaker's own aperiodicity instead of the matched frames'."""


@dataclass(frozen=True)
class KnnParams:
    """One clip's nearest-neighbour draw; the same params always give the same output."""

    voice: str
    """Name of the target voice (see ``overheard.protect._voices``)."""
    k: int = 4
    """Target frames averaged per source frame."""
    f0_contour_scale: float = 1.0
    """Multiplier on the speaker's normalised log-pitch excursions, dimensionless."""
    f0_shift_semitones: float = 0.0
    """Shift of the target voice's median pitch, semitones."""
    smooth_frames: int = 1
    """Moving-average width over the converted envelope, 5 ms frames."""
    encoder: str = "tiny.en"
    """Whisper encoder whose output frames are matched."""
    context: int = 0
    """Neighbouring content frames on each side compared along with a frame."""
    temperature: float = 0.0
    """Softmax temperature of the averaging weights (0 = plain mean)."""
    source_aperiodicity: bool = False
    """Keep the speaker's own aperiodicity."""


def draw_knn_params(rng: np.random.Generator, config: KnnConfig = KnnConfig()) -> KnnParams:
    """A fresh per-clip nearest-neighbour draw from ``config``."""
    return KnnParams(
        voice=str(config.voices[int(rng.integers(len(config.voices)))]),
        k=config.k,
        f0_contour_scale=_uniform(rng, *config.f0_contour_scale_range),
        f0_shift_semitones=_uniform(rng, *config.f0_shift_range_semitones),
        smooth_frames=config.smooth_frames,
        encoder=config.encoder,
        context=config.context,
        temperature=config.temperature,
        source_aperiodicity=config.source_aperiodicity,
    )


@dataclass(frozen=True)
class DisguiseConfig:
    """Ranges each clip's parameters are drawn from (uniformly), for the ``"world"`` method."""

    f0_median_range_hz: tuple[float, float] = (100.0, 250.0)
    """Target median pitch, hertz: spans both sexes so pitch says nothing about the speaker."""
    f0_contour_scale_range: tuple[float, float] = (0.4, 0.7)
    """Multiplier on log-pitch excursions around the median (1 keeps the intonation)."""
    warp_alpha_range: tuple[float, float] = (-0.1, 0.1)
    """All-pass frequency-warping coefficient, dimensionless (±0.1 ≈ ±20 % at 1 kHz)."""
    tilt_range_db_per_octave: tuple[float, float] = (5.0, 7.0)
    """Slope of the neutral long-term spectrum that replaces the speaker's, dB per octave."""
    replace_ltas: bool = True
    """Swap the speaker's long-term average spectrum for the neutral tilt."""
    warp_power_range: tuple[float, float] = (0.8, 0.95)
    """McAdams-style exponent on frequency in radians, dimensionless (1 = no change)."""
    mcadams_alpha_range: tuple[float, float] = (1.0, 1.0)
    """McAdams pole-angle exponent applied to the resynthesised clip, dimensionless (1 = off)."""


@dataclass(frozen=True)
class DisguiseParams:
    """One clip's ``"world"``-method draw; the same params always give the same output."""

    f0_median_hz: float
    """Median pitch of the disguised voice's voiced frames, hertz."""
    f0_contour_scale: float
    """Multiplier on log-pitch excursions around the median, dimensionless (0 = monotone)."""
    warp_alpha: float
    """All-pass warping coefficient, dimensionless; > 0 raises the formants, < 0 lowers them."""
    tilt_db_per_octave: float
    """Slope of the neutral long-term spectrum, dB per octave above 100 Hz."""
    replace_ltas: bool = True
    """Whether the speaker's long-term average spectrum is replaced by the neutral tilt."""
    warp_power: float = 1.0
    """Exponent φ → φ**warp_power on frequency in radians after the all-pass warp (1 = none)."""
    mcadams_alpha: float = 1.0
    """McAdams pole-angle exponent on the resynthesised clip, dimensionless (1 = skipped)."""


def draw_params(
    rng: np.random.Generator, config: DisguiseConfig = DisguiseConfig()
) -> DisguiseParams:
    """A fresh per-clip ``"world"``-method draw from ``config``'s ranges."""
    return DisguiseParams(
        f0_median_hz=float(rng.uniform(*config.f0_median_range_hz)),
        f0_contour_scale=float(rng.uniform(*config.f0_contour_scale_range)),
        warp_alpha=float(rng.uniform(*config.warp_alpha_range)),
        tilt_db_per_octave=float(rng.uniform(*config.tilt_range_db_per_octave)),
        replace_ltas=config.replace_ltas,
        warp_power=_uniform(rng, *config.warp_power_range),
        mcadams_alpha=_uniform(rng, *config.mcadams_alpha_range),
    )


METHODS = ("knnvc", "world")
"""Methods a draw can be made for, by name."""


def draw(rng: np.random.Generator, method: str = DEFAULT_METHOD) -> KnnParams | DisguiseParams:
    """A fresh per-clip draw, with default ranges, for the named method."""
    if method == "knnvc":
        return draw_knn_params(rng)
    if method == "world":
        return draw_params(rng)
    raise ValueError(f"unknown disguise method {method!r}; known: {', '.join(METHODS)}")


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A uniform draw; a single-value range is that value and consumes no randomness.

    So configurations that switch the power warp or the McAdams pass off replay the same draws as
    before those steps existed.
    """
    return float(low) if low == high else float(rng.uniform(low, high))


def _check(pcm: np.ndarray) -> None:
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise AudioRejected(
            f"disguise takes int16 mono samples, got {pcm.dtype} with shape {pcm.shape}",
            code="not_int16_mono",
        )


def _transform(analysis: _world.Analysis, params: DisguiseParams, rate: int) -> _world.Analysis:
    f0 = _world.reshape_f0(analysis.f0_hz, params.f0_median_hz, params.f0_contour_scale)
    moved = _world.warp_envelope(
        _world.Analysis(f0, analysis.envelope, analysis.aperiodicity),
        params.warp_alpha,
        params.warp_power,
    )
    if not params.replace_ltas:
        return moved
    tilt = _world.neutral_tilt(moved.envelope.shape[1], rate, params.tilt_db_per_octave)
    return _world.replace_ltas(moved, tilt)


def _match_level(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` scaled to the RMS of ``x``, so loudness neither drifts nor identifies the draw."""
    rms_x, rms_y = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
    return y * (rms_x / rms_y) if rms_y > 0 else y


def _convert(x: np.ndarray, params: KnnParams, rate: int) -> np.ndarray:
    if rate != _voices.SAMPLE_RATE_HZ:
        raise AudioRejected(
            f"the knnvc disguise needs 16 kHz audio, got {rate} Hz", code="bad_rate"
        )
    return convert_analysed(_world.analyse(x, rate), _voices.features(x, params.encoder), params, x)


def convert_analysed(
    analysis: _world.Analysis, features: np.ndarray, params: KnnParams, x: np.ndarray
) -> np.ndarray:
    """The knnvc conversion of ``x`` (floats, 16 kHz) from its WORLD ``analysis`` and content
    ``features`` (for ``params.encoder``), before the level is matched: what ``_convert``
    computes, for a caller that keeps the analysis to convert one clip several ways."""
    rate = _voices.SAMPLE_RATE_HZ
    converted = _knnvc.convert(
        analysis,
        features,
        _voices.load(params.voice, params.encoder),
        k=params.k,
        contour_scale=params.f0_contour_scale,
        shift_semitones=params.f0_shift_semitones,
        smooth_frames=params.smooth_frames,
        context=params.context,
        temperature=params.temperature,
        source_aperiodicity=params.source_aperiodicity,
        rate=rate,
    )
    return _world.synthesise(converted, rate, len(x))


def disguise(
    pcm: np.ndarray, params: KnnParams | DisguiseParams, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Disguised copy of int16 mono ``pcm``: int16, same length; the params' type picks the method."""
    _check(pcm)
    n = len(pcm)
    if n == 0 or not np.any(pcm):
        return np.zeros(n, dtype=np.int16)
    x = pcm.astype(np.float64) / _FULL_SCALE
    x = np.pad(x, (0, max(0, int(MIN_ANALYSIS_S * sample_rate_hz) - n)))
    if isinstance(params, KnnParams):
        y = _convert(x, params, sample_rate_hz)
    else:
        analysis = _world.analyse(x, sample_rate_hz)
        y = _world.synthesise(_transform(analysis, params, sample_rate_hz), sample_rate_hz, len(x))
    y = _match_level(y[:n], x[:n])
    out = np.clip(np.round(y * _FULL_SCALE), -_FULL_SCALE, _FULL_SCALE - 1).astype(np.int16)
    if isinstance(params, DisguiseParams) and params.mcadams_alpha != 1.0:
        from overheard.protect import _mcadams  # scipy: loaded where disguises are made, not served

        out = _mcadams.mcadams(out, params.mcadams_alpha, sample_rate_hz)
    return out
