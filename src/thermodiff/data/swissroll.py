"""The Swiss roll: points along a planar spiral plus isotropic Gaussian noise.

Generator: s ~ Uniform(1.5 pi, 4.5 pi), x = (s cos s, s sin s) / 2 + N(0, noise^2 I). The paper
does not publish its noise level. The default ``noise`` = 0.05 (in the units of x, whose standard
deviation is about 3.4 per axis) makes a thin roll, with true log-likelihood +0.39 bits after
z-scoring; the paper's K = 2.35 bits points to a roll thinner still (about noise = 0.012 here).
Its density is the integral over the curve,
p(x) = (1/(b - a)) int_a^b N(x; c(s), noise^2 I) ds, which ``log_density`` evaluates by quadrature.
"""

from __future__ import annotations

import math

import numpy as np

S_MIN, S_MAX = 1.5 * math.pi, 4.5 * math.pi
SCALE = 0.5


def curve(s: np.ndarray) -> np.ndarray:
    """c(s) = (s cos s, s sin s) * SCALE, shape (len(s), 2)."""
    return SCALE * np.stack([s * np.cos(s), s * np.sin(s)], axis=-1)


def generate(n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    s = rng.uniform(S_MIN, S_MAX, size=n)
    return curve(s) + noise * rng.standard_normal((n, 2))


def log_density(x: np.ndarray, noise: float, nodes: int = 40000, chunk: int = 512) -> np.ndarray:
    """ln p(x) per row of x (N, 2), by the midpoint rule over s with ``nodes`` nodes."""
    ds = (S_MAX - S_MIN) / nodes
    s = S_MIN + ds * (np.arange(nodes) + 0.5)
    c = curve(s)  # (nodes, 2)
    out = np.empty(x.shape[0])
    for i in range(0, x.shape[0], chunk):
        xb = x[i:i + chunk]
        sq = ((xb[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        log_kernel = -sq / (2 * noise**2) - math.log(2 * math.pi * noise**2)
        top = log_kernel.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(log_kernel - top).sum(axis=1))
        out[i:i + chunk] = lse + math.log(ds / (S_MAX - S_MIN))
    return out
