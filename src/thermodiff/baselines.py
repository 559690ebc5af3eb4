"""Baselines scored on the same held-out data as the bound: numpy only, no model.

- A full-covariance Gaussian fitted to the training data: the simplest density that captures
  all pairwise correlations; a diffusion model of images must beat it.
- The Parzen-window (kernel density) estimate that the paper's Table 2 quotes for MNIST
  (after Breuleux et al. 2011). It is a poor estimator of log-likelihood: biased, very
  sensitive to its bandwidth, and far from the truth in high dimensions. Offered for comparison
  with published numbers only.

Discrete data are dequantized (U[0, 1) per value, in units of one level) exactly as the bound's
evaluation does, so every figure is -log2 of a density on the same points.
"""

from __future__ import annotations

import math

import numpy as np

from .data.images import dequantize

LOG2 = math.log(2.0)


def gaussian_log2_density(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """log2 N(test; mean, cov) per example, with mean and covariance fitted to ``train`` (N, ...)."""
    a = train.reshape(train.shape[0], -1)
    b = test.reshape(test.shape[0], -1)
    mean = a.mean(axis=0)
    cov = np.cov(a, rowvar=False).reshape(a.shape[1], a.shape[1])
    chol = np.linalg.cholesky(cov + 1e-9 * np.trace(cov) / a.shape[1] * np.eye(a.shape[1]))
    white = np.linalg.solve(chol, (b - mean).T).T
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * ((white**2).sum(1) + log_det + a.shape[1] * math.log(2 * math.pi)) / LOG2


def parzen_log2_density(train: np.ndarray, test: np.ndarray, sigma: float, batch: int = 256) -> np.ndarray:
    """log2 of (1/N) sum_i N(test; train_i, sigma^2 I) per example."""
    a = train.reshape(train.shape[0], -1)
    b = test.reshape(test.shape[0], -1)
    d = a.shape[1]
    out = np.empty(b.shape[0])
    sq_a = (a**2).sum(1)
    for start in range(0, b.shape[0], batch):
        chunk = b[start:start + batch]
        sq = (chunk**2).sum(1)[:, None] + sq_a[None] - 2.0 * chunk @ a.T
        logits = -np.maximum(sq, 0.0) / (2 * sigma**2)
        top = logits.max(1, keepdims=True)
        out[start:start + batch] = (top[:, 0] + np.log(np.exp(logits - top).mean(1))) - 0.5 * d * math.log(2 * math.pi * sigma**2)
    return out / LOG2


def parzen_bandwidth(train: np.ndarray, rng: np.random.Generator, candidates: np.ndarray | None = None,
                     validation: int = 1000) -> float:
    """The sigma of the candidates that maximizes the likelihood of a validation part of ``train``."""
    order = rng.permutation(train.shape[0])
    n_val = min(validation, train.shape[0] // 5)
    val, fit = train[order[:n_val]], train[order[n_val:]]
    spread = float(np.sqrt(fit.reshape(fit.shape[0], -1).var(0).mean()))
    candidates = spread * np.logspace(-2, 0, 13) if candidates is None else candidates
    scores = [parzen_log2_density(fit, val, s).mean() for s in candidates]
    return float(candidates[int(np.argmax(scores))])


def image_baselines(train: np.ndarray, heldout: np.ndarray, levels: int, seed: int) -> dict[str, float]:
    """``gaussian_bits_per_dim``: -log2 density per dimension of a full-covariance Gaussian fitted
    to the (dequantized) training images, on the held-out images dequantized as the bound's
    evaluation dequantizes them (same seed); lower is better."""
    d = int(np.prod(heldout.shape[1:]))
    fit = dequantize(train, levels, np.random.default_rng(seed + 1))
    test = dequantize(heldout, levels, np.random.default_rng(seed))
    log2p = gaussian_log2_density(fit, test)
    return {"gaussian_bits_per_dim": float(-log2p.mean() / d),
            "gaussian_bits_per_dim_stderr": float(log2p.std(ddof=1) / math.sqrt(log2p.size) / d) if log2p.size > 1 else float("nan")}
