"""Evidence about the data as evidence about the model's coordinates.

The model runs in its own coordinates w (z-scored, perhaps whitened); the data are x = o + M w
(flattened), an affine map from the run's normalization. An observation x_i = y_i + N(0, s_i^2)
is M_i w = y_i - o_i + noise: a row of linear-Gaussian evidence about w (s_i = 0, a known value:
a delta). Entries nothing is known about become rows with A = 0, y = 0 and variance 1, so every
example's evidence has the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data import Normalization
from ..equations.products import DiagonalEvidence, LinearEvidence
from .evidence import Observations


@dataclass(frozen=True)
class AffineMap:
    """x = offset + M w for flattened examples: model coordinates w -> data coordinates x."""

    offset: Tensor  # (D,)
    M: Tensor  # (D, D)

    @classmethod
    def of(cls, normalization: Normalization, device: torch.device) -> "AffineMap":
        std = torch.as_tensor(np.asarray(normalization.std, dtype=np.float64).reshape(-1), device=device)
        mean = torch.as_tensor(np.asarray(normalization.mean, dtype=np.float64).reshape(-1), device=device)
        if normalization.whitening is None:
            M = torch.diag(std)
        else:
            M = std[:, None] * torch.linalg.inv(torch.as_tensor(normalization.whitening, device=device))
        return cls(offset=mean, M=M)

    def to_data(self, w: Tensor) -> Tensor:
        return self.offset + w @ self.M.T


def _flat(observations: Observations, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """(informs, y, variance) as (N, D) tensors."""
    informs = torch.as_tensor(observations.informs.reshape(observations.informs.shape[0], -1), device=device)
    y = torch.as_tensor(observations.y.reshape(informs.shape), device=device)
    var = torch.as_tensor(observations.std.reshape(informs.shape), device=device) ** 2
    return informs, y, var


def linear_evidence(observations: Observations, affine: AffineMap) -> LinearEvidence:
    """r(w) = N(y - o; A w, R) with the rows of M that are observed (dense, for any M)."""
    informs, y, var = _flat(observations, affine.M.device)
    N, D = informs.shape
    return LinearEvidence(A=torch.where(informs[:, :, None], affine.M.expand(N, D, D), 0.0),
                          y=torch.where(informs, y - affine.offset, 0.0),
                          R=torch.diag_embed(torch.where(informs, var, 1.0)))


def diagonal_evidence(observations: Observations, affine: AffineMap) -> DiagonalEvidence:
    """The same coordinate by coordinate, for a diagonal map (z-scored data: x_i = o_i + m_i w_i)."""
    informs, y, var = _flat(observations, affine.M.device)
    return DiagonalEvidence(a=torch.where(informs, torch.diagonal(affine.M), 0.0),
                            y=torch.where(informs, y - affine.offset, 0.0),
                            r=torch.where(informs, var, 1.0))


def as_linear(evidence: DiagonalEvidence) -> LinearEvidence:
    """Evidence about each coordinate on its own, as dense evidence (diagonal A and R)."""
    return LinearEvidence(A=torch.diag_embed(evidence.a), y=evidence.y, R=torch.diag_embed(evidence.r))


@dataclass(frozen=True)
class NoisyData:
    """Noisy observations of every coordinate in model coordinates, y = w + N(0, v) (float64 (B, D))."""

    y: Tensor
    v: Tensor

    @classmethod
    def of(cls, observations: Observations, affine: AffineMap) -> "NoisyData":
        """For a diagonal map: y_i = (x_i - o_i) / m_i with variance s_i^2 / m_i^2."""
        diagonal = diagonal_evidence(observations, affine)
        return cls(y=diagonal.y / diagonal.a, v=diagonal.r / diagonal.a**2)

    def take(self, rows: Tensor) -> "NoisyData":
        return NoisyData(self.y[rows], self.v[rows])

    def evidence(self) -> DiagonalEvidence:
        return DiagonalEvidence(a=torch.ones_like(self.y), y=self.y, r=self.v)
