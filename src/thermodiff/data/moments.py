"""Means and (co)variances of data read a chunk at a time (data larger than memory).

One chunk (all small data sets) is summarized by numpy's own ``mean``, ``std`` and ``cov``, so
small data give exactly the numbers they always gave. More chunks are summed about a shift,
the first chunk's mean: sums of (x - shift) and of its squares or outer products stay well
conditioned, because the shift is already close to the mean.
"""

from __future__ import annotations

import numpy as np

from .examples import Examples
from .images import dequantize
from .normalize import Normalization, NormalizationKind, fit, identity, per_dimension, zca_of_covariance


class Moments:
    """Running moments of examples (N, ...) added in chunks: per value, and optionally the full covariance."""

    def __init__(self, covariance: bool = False):
        self.covariance = covariance
        self.single: np.ndarray | None = None  # the only chunk so far, kept as it is
        self.n = 0
        self.shift = self.total = self.squares = None

    def add(self, chunk: np.ndarray) -> None:
        if self.n == 0:
            self.single, self.n = chunk, chunk.shape[0]
            return
        if self.single is not None:
            first, self.single, self.n = self.single, None, 0
            self.shift = first.mean(axis=0)
            self.total, self.squares = 0.0, 0.0
            self._sum(first)
        self._sum(chunk)

    def _sum(self, chunk: np.ndarray) -> None:
        d = chunk - self.shift
        self.n += chunk.shape[0]
        self.total = self.total + d.sum(axis=0)
        flat = d.reshape(d.shape[0], -1)
        self.squares = self.squares + (flat.T @ flat if self.covariance else (d * d).sum(axis=0))

    def mean(self) -> np.ndarray:
        if self.single is not None:
            return self.single.mean(axis=0)
        return self.shift + self.total / self.n

    def var(self) -> np.ndarray:
        """Per value, about the mean, divided by N (numpy's ``var``)."""
        if self.single is not None:
            return self.single.var(axis=0)
        centred = self.total / self.n
        squares = np.diagonal(self.squares).reshape(self.shift.shape) if self.covariance else self.squares
        return np.maximum(squares / self.n - centred**2, 0.0)

    def std(self) -> np.ndarray:
        return self.single.std(axis=0) if self.single is not None else np.sqrt(self.var())

    def cov(self) -> np.ndarray:
        """(D, D) covariance of the flattened examples, divided by N - 1 (numpy's ``cov``)."""
        if self.single is not None:
            a = self.single.reshape(self.n, -1)
            return np.cov(a, rowvar=False).reshape(a.shape[1], a.shape[1])
        centred = (self.total / self.n).reshape(-1)
        return (self.squares - self.n * np.outer(centred, centred)) / (self.n - 1)

    def overall_std(self) -> float:
        """The standard deviation of every value together (numpy's ``x.std()``)."""
        if self.single is not None:
            return float(self.single.std())
        mean, var = self.mean(), self.var()
        return float(np.sqrt(np.mean(var + mean**2) - np.mean(mean) ** 2))


def fit_normalization(train: Examples, kind: NormalizationKind, levels: int | None,
                      seed: int) -> tuple[Normalization, float]:
    """(the normalization fitted to the training examples, dequantized by U[0, 1) from ``seed`` if
    discrete; the standard deviation of their values as stored), in one pass over them."""
    kind = NormalizationKind(kind)
    rng = np.random.default_rng(seed)
    stored, fitted = Moments(), Moments(covariance=kind is NormalizationKind.WHITEN)
    for chunk in train.chunks():
        stored.add(chunk)
        fitted.add(chunk if levels is None else dequantize(chunk, levels, rng))
    if fitted.single is not None:
        return fit(fitted.single, kind), stored.overall_std()
    if kind is NormalizationKind.NONE:
        return identity(train.shape[1:]), stored.overall_std()
    base = per_dimension(fitted.mean(), fitted.std())
    if kind is NormalizationKind.ZSCORE:
        return base, stored.overall_std()
    std = base.std.reshape(-1)
    whitening = zca_of_covariance(fitted.cov() / np.outer(std, std), fitted.n)
    return Normalization(base.mean, base.std, whitening), stored.overall_std()
