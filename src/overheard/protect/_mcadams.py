"""McAdams voice disguise: warp the angles of the LPC poles of each frame (the baseline to beat)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.signal

FRAME_S = 0.020
"""Analysis frame length, seconds."""
HOP_S = 0.010
"""Hop between frames, seconds (50 % overlap, Hann windows sum to a constant)."""
LPC_ORDER = 20
"""Poles per frame: enough for the formants of a 16 kHz signal."""
_EPS = 1e-9


def lpc(frame: np.ndarray, order: int) -> np.ndarray:
    """Prediction polynomial ``[1, a1, …, a_order]`` of ``frame`` by the autocorrelation method."""
    r = np.correlate(frame, frame, mode="full")[len(frame) - 1 : len(frame) + order]
    if r[0] <= _EPS:
        return np.concatenate([[1.0], np.zeros(order)])
    r = r.copy()
    r[0] *= 1.0 + 1e-6  # a little white-noise correction keeps the Toeplitz system well-conditioned
    a = scipy.linalg.solve_toeplitz(r[:order], -r[1 : order + 1])
    return np.concatenate([[1.0], a])


def warp_poles(a: np.ndarray, alpha: float) -> np.ndarray:
    """The polynomial whose complex poles' angles φ became φ**alpha (radians; real poles stay)."""
    poles = np.roots(a)
    complex_ = np.abs(poles.imag) > _EPS
    angles = np.angle(poles[complex_])
    moved = np.sign(angles) * np.abs(angles) ** alpha
    poles = poles.copy()
    poles[complex_] = np.abs(poles[complex_]) * np.exp(1j * np.clip(moved, -np.pi, np.pi))
    return np.real(np.poly(poles))


def mcadams(pcm: np.ndarray, alpha: float, sample_rate_hz: int = 16000) -> np.ndarray:
    """Disguise int16 mono ``pcm`` with McAdams coefficient ``alpha`` (1 = unchanged); int16 out."""
    x = pcm.astype(np.float64) / 32768.0
    frame = round(FRAME_S * sample_rate_hz)
    hop = round(HOP_S * sample_rate_hz)
    window = scipy.signal.get_window("hann", frame)
    padded = np.concatenate([np.zeros(frame), x, np.zeros(2 * frame)])
    out = np.zeros_like(padded)
    for start in range(0, len(padded) - frame, hop):
        seg = padded[start : start + frame] * window
        a = lpc(seg, LPC_ORDER)
        residual = scipy.signal.lfilter(a, [1.0], seg)
        out[start : start + frame] += scipy.signal.lfilter([1.0], warp_poles(a, alpha), residual)
    y = out[frame : frame + len(x)]
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
