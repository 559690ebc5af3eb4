"""Low-dimensional data sets whose density is known exactly, to measure how tight the bound is.

- ``gaussian``: a correlated Gaussian in ``dim`` dimensions with unequal variances; the
  covariance is Q diag(lambda) Q^T with lambda spread log-uniformly over ``condition`` (the
  condition number) and a random rotation Q, both fixed by ``structure_seed``.
- ``mixture``: ``components`` isotropic 2-D Gaussians of standard deviation ``width`` with their
  centres evenly spaced on a circle of ``radius``, equal weights (well separated by default).
"""

from __future__ import annotations

import math

import numpy as np


def _log_mean_exp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).mean(axis=axis))


def gaussian_parameters(dim: int, condition: float, structure_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the correlated Gaussian."""
    rng = np.random.default_rng(structure_seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    eigen = np.logspace(0.0, math.log10(condition), dim)
    mean = rng.normal(0.0, 2.0, size=dim)
    return mean, (q * eigen) @ q.T


def gaussian_generate(n: int, rng: np.random.Generator, dim: int, condition: float, structure_seed: int) -> np.ndarray:
    mean, cov = gaussian_parameters(dim, condition, structure_seed)
    return rng.multivariate_normal(mean, cov, size=n, method="cholesky")


def gaussian_log_density(x: np.ndarray, dim: int, condition: float, structure_seed: int) -> np.ndarray:
    mean, cov = gaussian_parameters(dim, condition, structure_seed)
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, (x - mean).T).T
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * ((white**2).sum(1) + log_det + dim * math.log(2 * math.pi))


def mixture_centres(components: int, radius: float) -> np.ndarray:
    angle = 2 * math.pi * np.arange(components) / components
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def mixture_generate(n: int, rng: np.random.Generator, components: int, radius: float, width: float) -> np.ndarray:
    centres = mixture_centres(components, radius)
    which = rng.integers(components, size=n)
    return centres[which] + width * rng.standard_normal((n, 2))


def mixture_log_density(x: np.ndarray, components: int, radius: float, width: float) -> np.ndarray:
    centres = mixture_centres(components, radius)
    sq = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return _log_mean_exp(-sq / (2 * width**2), axis=1) - math.log(2 * math.pi * width**2)
