"""Rate-1/3 convolutional code (constraint length 7) with a batched soft-decision Viterbi decoder."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

GENERATORS = (0o133, 0o145, 0o175)
"""Generator polynomials (free distance 15)."""
MEMORY = 6
RATE = len(GENERATORS)
STATES = 2**MEMORY


def coded_bits(message_bits: int) -> int:
    """Coded bits for ``message_bits`` plus the zero tail."""
    return (message_bits + MEMORY) * RATE


def _parity(x: NDArray[np.int64]) -> NDArray[np.int64]:
    bits = np.unpackbits(x.astype(">u2").view(np.uint8)).reshape(len(x), 16)
    return bits.sum(axis=1) % 2


@lru_cache(maxsize=1)
def _trellis() -> NDArray[np.float64]:
    """±1 outputs of every encoder register value (newest bit lowest): shape (128, RATE)."""
    regs = np.arange(2 ** (MEMORY + 1), dtype=np.int64)
    return np.stack([_parity(regs & g) for g in GENERATORS], axis=1) * 2.0 - 1.0


def encode(word: int, message_bits: int) -> NDArray[np.float64]:
    """±1 per coded bit of ``word`` (most significant bit first), zero-tailed."""
    bits = [(word >> (message_bits - 1 - i)) & 1 for i in range(message_bits)] + [0] * MEMORY
    outputs = _trellis()
    reg, coded = 0, []
    for bit in bits:
        reg = ((reg << 1) | bit) & (2 ** (MEMORY + 1) - 1)
        coded.append(outputs[reg])
    return np.concatenate(coded)


def decode(soft: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Most likely words for a batch of soft codewords (candidates, coded bits).

    Returns (words as integers, path metric / sum of |soft|, i.e. 1.0 for a perfect codeword).
    """
    batch = soft.reshape(len(soft), -1, RATE)
    steps = batch.shape[1]
    outputs = _trellis()
    nxt = np.arange(STATES)
    # Register of the step into state n from predecessor (n >> 1) | (h << 5) is n + 64 h.
    preds = np.stack([(nxt >> 1), (nxt >> 1) | (STATES >> 1)])
    metric = np.full((len(soft), STATES), -np.inf)
    metric[:, 0] = 0.0
    choices = np.empty((steps, len(soft), STATES), dtype=bool)
    for step in range(steps):
        branch = batch[:, step] @ outputs.T
        low = metric[:, preds[0]] + branch[:, nxt]
        high = metric[:, preds[1]] + branch[:, nxt + STATES]
        choices[step] = high > low
        metric = np.where(choices[step], high, low)
    rows = np.arange(len(soft))
    state = np.zeros(len(soft), dtype=np.int64)
    words = np.zeros(len(soft), dtype=np.int64)
    for step in range(steps - 1, -1, -1):
        if step < steps - MEMORY:
            words |= (state & 1) << (steps - MEMORY - 1 - step)
        state = preds[choices[step][rows, state].astype(np.int64), state]
    scale = np.maximum(np.abs(soft).sum(axis=1), 1e-12)
    return words, metric[:, 0] / scale


def encode_many(words: NDArray[np.int64], message_bits: int) -> NDArray[np.float32]:
    """±1 coded bits of many words at once (words, coded bits); same as ``encode`` per word."""
    outputs = _trellis().astype(np.float32)
    reg = np.zeros(len(words), dtype=np.int64)
    coded = np.empty((len(words), message_bits + MEMORY, RATE), dtype=np.float32)
    for step in range(message_bits + MEMORY):
        shift = message_bits - 1 - step
        bit = (words >> shift) & 1 if shift >= 0 else np.zeros_like(words)
        reg = ((reg << 1) | bit) & (2 ** (MEMORY + 1) - 1)
        coded[:, step] = outputs[reg]
    return coded.reshape(len(words), (message_bits + MEMORY) * RATE)


def log_mgf(soft: NDArray[np.float64], lambdas: NDArray[np.float64]) -> NDArray[np.float64]:
    """log E[exp(λ · soft·c)] over a uniformly random message c, (candidates, λs); exact.

    Summed over every path of the zero-tailed trellis (each message bit 1/2), so a Chernoff bound
    on how well a random codeword can match ``soft`` needs no independence assumption.
    """
    batch = soft.reshape(len(soft), -1, RATE)
    steps = batch.shape[1]
    outputs = _trellis()
    nxt = np.arange(STATES)
    preds = np.stack([(nxt >> 1), (nxt >> 1) | (STATES >> 1)])
    log_alpha = np.full((len(soft), len(lambdas), STATES), -np.inf)
    log_alpha[:, :, 0] = 0.0
    for step in range(steps):
        branch = lambdas[None, :, None] * (batch[:, step] @ outputs.T)[:, None, :]
        low = log_alpha[:, :, preds[0]] + branch[:, :, nxt]
        high = log_alpha[:, :, preds[1]] + branch[:, :, nxt + STATES]
        log_alpha = np.logaddexp(low, high)
        if step < steps - MEMORY:
            log_alpha -= np.log(2.0)
        else:
            log_alpha[:, :, 1::2] = -np.inf  # the tail feeds zeros
    return log_alpha[:, :, 0]


def tail(soft: NDArray[np.float64], threshold: float, step: float = 0.02) -> float:
    """An upper bound on P(soft·c >= threshold) over a uniformly random message c; near exact.

    The soft bits are rounded to multiples of ``step`` and the distribution of the rounded match is
    summed exactly on the trellis (an integer histogram per state); the rounding can raise the
    match by at most the summed rounding errors, which the threshold is lowered by. Unlike the
    Chernoff bound from ``log_mgf`` it loses no polynomial factor.
    """
    units = np.round(np.asarray(soft, dtype=np.float64) / step)
    slack = float(np.abs(soft - units * step).sum())
    needed = math.ceil((threshold - slack) / step - 1e-9)
    span = int(np.abs(units).sum())
    if needed > span:
        return 0.0
    if needed <= -span:
        return 1.0
    branch = (units.reshape(-1, RATE) @ _trellis().T).astype(np.int64)  # (steps, 128 registers)
    steps = len(branch)
    message_steps = steps - MEMORY
    hist = np.zeros((STATES, 2 * span + 1))
    hist[0, span] = 1.0
    for k in range(steps):
        new = np.zeros_like(hist)
        feeds = (0, 1) if k < message_steps else (0,)
        for state in range(STATES):
            if not hist[state].any():
                continue
            for bit in feeds:
                reg = ((state << 1) | bit) & (2 ** (MEMORY + 1) - 1)
                shift = int(branch[k, reg])
                target = reg & (STATES - 1)
                weight = 0.5 if k < message_steps else 1.0
                if shift >= 0:
                    new[target, shift:] += weight * hist[state, : len(hist[state]) - shift]
                else:
                    new[target, :shift] += weight * hist[state, -shift:]
        hist = new
    return float(min(1.0, hist[0, needed + span :].sum()))
