"""The paper's binary "heartbeat": sequences with a 1 every ``period``-th bin at a random phase.

Each example has ``length`` bins; the first 1 falls uniformly in the first ``period`` bins and
then every ``period`` bins after it. Every valid sequence has probability 1/period, so the true
log-probability is -log2(period) bits per sequence (-2.322 for the paper's length 20, period 5).
"""

from __future__ import annotations

import math

import numpy as np


def generate(n: int, rng: np.random.Generator, length: int, period: int) -> np.ndarray:
    if not 1 <= period <= length:
        raise ValueError(f"heartbeat needs 1 <= period <= length, got period={period}, length={length}")
    phase = rng.integers(period, size=n)
    bins = np.arange(length)
    return ((bins[None, :] - phase[:, None]) % period == 0).astype(np.float64)


def log_density(x: np.ndarray, length: int, period: int) -> np.ndarray:
    """ln P(x): ln(1/period) for a valid heartbeat, -inf otherwise."""
    patterns = np.stack([(np.arange(length) % period == phase) for phase in range(period)]).astype(np.float64)
    valid = (x[:, None, :] == patterns[None]).all(-1).any(-1)
    return np.where(valid, -math.log(period), -np.inf)
