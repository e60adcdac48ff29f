"""A classical speaker-verification attacker: MFCC features, a GMM-UBM and MAP-adapted means.

Independent of any neural encoder, so a disguise tuned against one attacker is checked against
features of a different kind. Features: 19 MFCCs (c1..c19 from 24 mel bands, 25 ms Hamming frames
every 10 ms, pre-emphasis 0.97), deltas and delta-deltas over ±2 frames, frames more than
``ENERGY_FLOOR_DB`` below the loudest dropped, then mean and variance normalised per utterance
(CMVN). A universal background model (diagonal GMM) is trained on speakers disjoint from those
evaluated; a speaker model is the UBM with its means MAP-adapted to the enrolment frames
(relevance factor ``RELEVANCE``); a trial scores the mean per-frame log-likelihood ratio
speaker-model / UBM. Measurement only, never imported by the platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.fft import dct, rfft
from scipy.special import logsumexp

RATE_HZ = 16000
FRAME = 400
"""Analysis frame, samples (25 ms)."""
HOP = 160
"""Frame step, samples (10 ms)."""
N_FFT = 512
N_MELS = 24
N_CEPS = 19
"""Cepstra kept, c1..c19 (c0, the loudness, is left out)."""
DELTA_SPAN = 2
"""Frames either side in the delta regression."""
ENERGY_FLOOR_DB = 40.0
"""Frames this far below the clip's loudest frame are silence, decibels."""
COMPONENTS = 64
RELEVANCE = 16.0
"""MAP relevance factor: frames a component needs before its mean moves halfway."""
UBM_MAX_FRAMES = 60000
"""The UBM is trained on at most this many frames (an even subsample), to keep it quick."""

Feats = NDArray[np.float64]


def _mel_bank() -> NDArray[np.float64]:
    """Triangular mel filters, (N_MELS, N_FFT // 2 + 1), 0 Hz to Nyquist."""
    mel = np.linspace(0.0, 2595.0 * np.log10(1.0 + (RATE_HZ / 2) / 700.0), N_MELS + 2)
    edges = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    bins = np.linspace(0.0, RATE_HZ / 2, N_FFT // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up, down = (bins - lo) / (mid - lo), (hi - bins) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


_BANK = _mel_bank()


def _deltas(x: Feats) -> Feats:
    """Regression deltas over ±DELTA_SPAN frames (edges repeated)."""
    pad = np.pad(x, ((DELTA_SPAN, DELTA_SPAN), (0, 0)), mode="edge")
    n = len(x)
    num = sum(
        k * (pad[DELTA_SPAN + k : n + DELTA_SPAN + k] - pad[DELTA_SPAN - k : n + DELTA_SPAN - k])
        for k in range(1, DELTA_SPAN + 1)
    )
    return num / (2 * sum(k * k for k in range(1, DELTA_SPAN + 1)))


def features(pcm: NDArray[np.int16]) -> Feats:
    """CMVN-normalised MFCC + deltas + delta-deltas of the speech frames, (frames, 57)."""
    x = pcm.astype(np.float64) / 32768.0
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    if len(x) < FRAME:
        x = np.pad(x, (0, FRAME - len(x)))
    count = 1 + (len(x) - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP][:count] * np.hamming(FRAME)
    power = np.abs(rfft(frames, N_FFT)) ** 2
    logmel = np.log(power @ _BANK.T + 1e-10)
    ceps = dct(logmel, type=2, norm="ortho", axis=1)[:, 1 : N_CEPS + 1]
    full = np.hstack([ceps, _deltas(ceps), _deltas(_deltas(ceps))])
    energy_db = 10.0 * np.log10(power.sum(axis=1) + 1e-10)
    speech = full[energy_db > energy_db.max() - ENERGY_FLOOR_DB]
    return (speech - speech.mean(axis=0)) / (speech.std(axis=0) + 1e-8)


@dataclass(frozen=True)
class Stats:
    """Zeroth- and first-order Baum-Welch statistics of some frames against the UBM."""

    n: NDArray[np.float64]
    """Soft frame count per component, (C,)."""
    f: NDArray[np.float64]
    """Posterior-weighted sum of frames per component, (C, D)."""

    def __add__(self, other: Stats) -> Stats:
        return Stats(self.n + other.n, self.f + other.f)

    def __sub__(self, other: Stats) -> Stats:
        return Stats(self.n - other.n, self.f - other.f)


class GmmUbm:
    """A diagonal-covariance UBM; speaker models differ from it only in their means."""

    def __init__(self, components: int = COMPONENTS, relevance: float = RELEVANCE, seed: int = 0):
        self.components = components
        self.relevance = relevance
        self.seed = seed

    def fit(self, background: Iterable[Feats]) -> GmmUbm:
        """Train the UBM by EM on the background speakers' frames (never the evaluated ones)."""
        from sklearn.mixture import GaussianMixture

        frames = np.vstack(list(background))
        step = max(1, len(frames) // UBM_MAX_FRAMES)
        gmm = GaussianMixture(
            self.components,
            covariance_type="diag",
            max_iter=100,
            reg_covar=1e-3,
            random_state=self.seed,
        ).fit(frames[::step])
        self.weights, self.means, self.variances = gmm.weights_, gmm.means_, gmm.covariances_
        return self

    def _log_dens(self, x: Feats, means: Feats) -> Feats:
        """log(w_c N(x_t; mu_c, Sigma)), (frames, C)."""
        prec = 1.0 / self.variances
        quad = (x * x) @ prec.T - 2.0 * x @ (means * prec).T + np.sum(means * means * prec, axis=1)
        const = np.log(self.weights) - 0.5 * np.sum(np.log(2 * np.pi * self.variances), axis=1)
        return const - 0.5 * quad

    def stats(self, x: Feats) -> Stats:
        """Baum-Welch statistics of ``x`` under the UBM."""
        dens = self._log_dens(x, self.means)
        post = np.exp(dens - logsumexp(dens, axis=1, keepdims=True))
        return Stats(post.sum(axis=0), post.T @ x)

    def adapt(self, stats: Stats) -> Feats:
        """MAP-adapted means for a speaker with these enrolment statistics, (C, D)."""
        alpha = (stats.n / (stats.n + self.relevance))[:, None]
        first = stats.f / np.maximum(stats.n, 1e-10)[:, None]
        return alpha * first + (1.0 - alpha) * self.means

    def llr(self, x: Feats, means: Feats) -> float:
        """Mean per-frame log-likelihood ratio of ``x``: speaker model against UBM."""
        spk = logsumexp(self._log_dens(x, means), axis=1)
        ubm = logsumexp(self._log_dens(x, self.means), axis=1)
        return float(np.mean(spk - ubm))


def loo_trials(
    ubm: GmmUbm,
    enrol: Sequence[Feats],
    test: Sequence[Feats],
    owners: Sequence[str],
    keep: set[str],
) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """Scores and labels (1 = same speaker) of every test clip of a speaker in ``keep`` against
    every speaker in ``keep``, each enrolled on all their ``enrol`` clips except the tested one."""
    who = np.array(owners)
    stats = [ubm.stats(e) for e in enrol]
    total = {s: sum((stats[i] for i in np.flatnonzero(who == s)), Stats(0.0, 0.0)) for s in keep}
    full = {s: ubm.adapt(total[s]) for s in keep}
    scores, labels = [], []
    for i in np.flatnonzero(np.isin(who, sorted(keep))):
        for speaker in sorted(keep):
            own = speaker == who[i]
            means = ubm.adapt(total[speaker] - stats[i]) if own else full[speaker]
            scores.append(ubm.llr(test[i], means))
            labels.append(int(own))
    return np.array(scores), np.array(labels)


def eer(scores: NDArray[np.float64], labels: NDArray[np.int_]) -> float:
    """Equal error rate, 0..1: where false accepts equal false rejects on the ROC."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
    return float((fpr[i] + 1 - tpr[i]) / 2)
