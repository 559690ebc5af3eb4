"""Normalization: the paper's z-scoring, optionally followed by whitening.

Three coordinate systems, each an exact affine map of the last:
- data: the examples as given;
- z: each dimension z-scored to unit variance (the paper's convention; ``K`` is reported here);
- model: z, or z whitened by ZCA, w = W z with W = U diag(lambda)^(-1/2) U^T from the
  eigen-decomposition of the training data's correlation matrix. The diffusion runs here.

Whitening is a linear preconditioner: correlated data with very unequal principal variances
become isotropic, so no direction is erased by the forward noise long before the others, and a
diagonal reverse covariance fits better. Bounds move between the systems by log-Jacobians:
log p_z(z) = log p_model(W z) + log|det W|, log p_data(x) = log p_z(z) - sum log std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..errors import DataError


class NormalizationKind(str, Enum):
    NONE = "none"
    ZSCORE = "zscore"
    WHITEN = "whiten"


@dataclass(frozen=True)
class Normalization:
    """z = (x - mean) / std elementwise; model coordinates = W z on flattened examples (W None: identity)."""

    mean: np.ndarray
    std: np.ndarray
    whitening: np.ndarray | None = None

    def to_z(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Data -> model coordinates."""
        z = self.to_z(x)
        if self.whitening is None:
            return z
        return (z.reshape(z.shape[0], -1) @ self.whitening.T).reshape(z.shape)

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """Model -> data coordinates."""
        z = w if self.whitening is None else (w.reshape(w.shape[0], -1) @ np.linalg.inv(self.whitening).T).reshape(w.shape)
        return z * self.std + self.mean

    def log2_det_whitening(self) -> float:
        """log2 |det W|: K in z coordinates = K in model coordinates + this."""
        if self.whitening is None:
            return 0.0
        return float(np.linalg.slogdet(self.whitening)[1]) / math.log(2.0)

    def log2_jacobian(self, example_shape: tuple[int, ...]) -> float:
        """log2 |dz/dx| for one example: log2 p_data(x) = log2 p_z(z) + this."""
        return -float(np.sum(np.broadcast_to(np.log(self.std), example_shape))) / math.log(2.0)

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(),
                "whitening": None if self.whitening is None else self.whitening.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Normalization":
        w = data.get("whitening")
        return cls(mean=np.asarray(data["mean"], dtype=np.float64), std=np.asarray(data["std"], dtype=np.float64),
                   whitening=None if w is None else np.asarray(w, dtype=np.float64))


def fit_per_dimension(x: np.ndarray) -> Normalization:
    """Per-dimension mean and standard deviation of the training examples x (N, d)."""
    return per_dimension(x.mean(axis=0), x.std(axis=0))


def per_dimension(mean: np.ndarray, std: np.ndarray) -> Normalization:
    """z-scoring by this mean and standard deviation; refuses dimensions that are constant."""
    constant = np.flatnonzero(std.reshape(-1) <= 1e-12 * np.maximum(1.0, np.abs(mean).reshape(-1)))
    if constant.size:
        raise DataError(
            f"dimension(s) {constant.tolist()[:10]} are constant in the training data; a density over a "
            "constant is degenerate. Drop those columns and try again."
        )
    return Normalization(mean=mean, std=std)


def zca_whitening(z: np.ndarray, floor: float = 1e-9) -> np.ndarray:
    """W = U diag(lambda)^(-1/2) U^T for the covariance of z (N, d); refuses (near) singular data."""
    flat = z.reshape(z.shape[0], -1)
    return zca_of_covariance(np.cov(flat, rowvar=False).reshape(flat.shape[1], flat.shape[1]), flat.shape[0], floor)


def zca_of_covariance(cov: np.ndarray, n: int, floor: float = 1e-9) -> np.ndarray:
    """W = U diag(lambda)^(-1/2) U^T for the (d, d) covariance ``cov`` of n examples."""
    d = cov.shape[0]
    if n <= d:
        raise DataError(f"whitening {d} dimensions needs more than {d} training examples; "
                        "use --normalization zscore")
    lam, u = np.linalg.eigh(cov)
    if lam.min() <= floor * lam.max():
        raise DataError("the data are (nearly) confined to a lower-dimensional subspace, so they have no density "
                        "in these coordinates; remove the redundant columns (or use --normalization zscore)")
    return (u / np.sqrt(lam)) @ u.T


def identity(example_shape: tuple[int, ...]) -> Normalization:
    """No normalization (binary data is modelled as it is)."""
    return Normalization(mean=np.zeros(example_shape), std=np.ones(example_shape))


def fit(x: np.ndarray, kind: NormalizationKind) -> Normalization:
    if NormalizationKind(kind) is NormalizationKind.NONE:
        return identity(x.shape[1:])
    base = fit_per_dimension(x)
    if NormalizationKind(kind) is NormalizationKind.ZSCORE:
        return base
    return Normalization(base.mean, base.std, zca_whitening(base.to_z(x)))
