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
from dataclasses import dataclass

import numpy as np

from ..data.examples import Examples
from ..data.images import dequantize
from ..data.moments import Moments

LOG2 = math.log(2.0)
BASELINE_EXAMPLES = 50_000  # the Gaussian baseline is fitted to at most this many training images (D = 3072: 16 D)


@dataclass(frozen=True)
class GaussianFit:
    """A full-covariance Gaussian fitted to flattened examples (what a run keeps for its baseline)."""

    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)

    @classmethod
    def of(cls, train: np.ndarray) -> "GaussianFit":
        a = train.reshape(train.shape[0], -1)
        return cls(mean=a.mean(axis=0), cov=np.cov(a, rowvar=False).reshape(a.shape[1], a.shape[1]))

    def log2_density(self, test: np.ndarray) -> np.ndarray:
        """log2 N(test; mean, cov) per example (a ridge of 1e-9 of the mean variance keeps it defined)."""
        d = self.mean.size
        b = test.reshape(test.shape[0], -1)
        chol = np.linalg.cholesky(self.cov + 1e-9 * np.trace(self.cov) / d * np.eye(d))
        white = np.linalg.solve(chol, (b - self.mean).T).T
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        return -0.5 * ((white**2).sum(1) + log_det + d * math.log(2 * math.pi)) / LOG2


def gaussian_log2_density(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """log2 N(test; mean, cov) per example, with mean and covariance fitted to ``train`` (N, ...)."""
    return GaussianFit.of(train).log2_density(test)


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


def image_baseline_fit(train: np.ndarray | Examples, levels: int, seed: int) -> GaussianFit:
    """The full-covariance Gaussian of the training images (the first BASELINE_EXAMPLES of them),
    dequantized by U[0, 1) from ``seed + 1``, read a chunk at a time."""
    rng = np.random.default_rng(seed + 1)
    examples = Examples.of(train)
    moments = Moments(covariance=True)
    for chunk in examples.subset(slice(0, BASELINE_EXAMPLES)).chunks():
        moments.add(dequantize(chunk, levels, rng))
    if moments.single is not None:
        return GaussianFit.of(moments.single)
    return GaussianFit(mean=moments.mean().reshape(-1), cov=moments.cov())


def image_baselines(fit: GaussianFit, heldout: np.ndarray, levels: int, seed: int) -> dict[str, float]:
    """``gaussian_bits_per_dim``: -log2 density per dimension of the Gaussian fitted to the
    training images, on the held-out images dequantized as the bound's evaluation dequantizes
    them (same seed); lower is better."""
    d = int(np.prod(heldout.shape[1:]))
    test = dequantize(heldout, levels, np.random.default_rng(seed))
    log2p = fit.log2_density(test)
    return {"gaussian_bits_per_dim": float(-log2p.mean() / d),
            "gaussian_bits_per_dim_stderr": float(log2p.std(ddof=1) / math.sqrt(log2p.size) / d) if log2p.size > 1 else float("nan")}


def parzen_baseline(train: np.ndarray, heldout: np.ndarray, levels: int, seed: int) -> dict[str, float]:
    """``parzen_bits_per_dim``: the Parzen-window estimate with its bandwidth fitted on the
    (dequantized) training images, on the held-out images dequantized as the bound's are."""
    rng = np.random.default_rng(seed)
    fit = dequantize(train, levels, rng)
    sigma = parzen_bandwidth(fit, rng)
    log2p = parzen_log2_density(fit, dequantize(heldout, levels, np.random.default_rng(seed)), sigma)
    return {"parzen_bits_per_dim": float(-log2p.mean() / heldout[0].size), "parzen_sigma": sigma}


def gaussian_fit(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = train.reshape(train.shape[0], -1)
    return flat.mean(axis=0), np.cov(flat, rowvar=False)


def wiener_denoise(train: np.ndarray, noisy: np.ndarray, noise_std: float) -> np.ndarray:
    """mu + S (S + s^2 I)^{-1} (y - mu), with mu, S fitted to the training images."""
    mu, S = gaussian_fit(train)
    y = noisy.reshape(noisy.shape[0], -1)
    gain = np.linalg.solve(S + noise_std**2 * np.eye(S.shape[0]), S).T
    return (mu + (y - mu) @ gain.T).reshape(noisy.shape)


def gaussian_inpaint(train: np.ndarray, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The fitted Gaussian's conditional mean of the hidden values given the known ones."""
    mu, S = gaussian_fit(train)
    out = observed.reshape(observed.shape[0], -1).copy()
    for i, known in enumerate(mask.reshape(mask.shape[0], -1)):
        k, u = known, ~known
        out[i, u] = mu[u] + S[np.ix_(u, k)] @ np.linalg.solve(S[np.ix_(k, k)], out[i, k] - mu[k])
    return out.reshape(observed.shape)
