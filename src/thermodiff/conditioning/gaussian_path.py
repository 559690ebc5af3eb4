"""What every conditioned Gaussian chain shares: the model's reverse kernel in flattened model
coordinates, its prediction of x_0, and the step p~(x_{s} | x_{s+1}) ∝ N(x_s; mu, diag Sigma) r_s(x_s)
whose tilted draw each path (dense.py, coordinates.py, smooth.py) supplies; for sequential Monte
Carlo, the same draw with its weight (``GaussianParticles``)."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data import Normalization
from ..equations.reverse import ReverseGaussian, predicted_x0
from ..model import DiffusionModel
from ..schedule import ScheduleTable
from .affine import AffineMap
from .base import Draw, ParticlePath, Path
from .evidence import Evidence


def standard_normal(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class GaussianReverse:
    """The model's reverse chain on flattened model coordinates w (B, D), and the map to the data."""

    model: DiffusionModel
    table: ScheduleTable  # detached: a learned schedule's gradients are never wanted in sampling
    affine: AffineMap
    data_shape: tuple[int, ...]

    @classmethod
    def of(cls, model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...],
           device: torch.device) -> "GaussianReverse":
        return cls(model, model.process.table().detach(), AffineMap.of(normalization, device), tuple(data_shape))

    @property
    def T(self) -> int:
        return self.model.T

    @property
    def dim(self) -> int:
        return self.affine.M.shape[0]

    def moments(self, w: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """(mean, variance) of p(x_{t-1} | x_t = w), flattened."""
        with torch.no_grad():
            kernel = self.model.kernel(w.reshape(-1, *self.data_shape), self._steps(w, t), self.table)
        return kernel.mean.flatten(1), kernel.log_var.exp().flatten(1)

    def predict(self, w: Tensor, s: int) -> tuple[ReverseGaussian, Tensor]:
        """The model's step-s kernel at the state x_s = w, and its prediction x0_hat of x_0 (flattened)."""
        xs, steps = w.reshape(-1, *self.data_shape), self._steps(w, s)
        kernel = self.model.kernel(xs, steps, self.table)
        return kernel, predicted_x0(kernel, xs, steps, self.table).flatten(1)

    def x0_and_jacobian(self, w: Tensor, s: int) -> tuple[Tensor, Tensor]:
        """x0_hat(w) and J[b, i, j] = d x0_hat_i / d w_j: one backward pass per dimension, vectorized."""
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            x0 = self.predict(w, s)[1]
            D = x0.shape[1]
            basis = torch.eye(D, dtype=x0.dtype, device=x0.device)[:, None, :].expand(D, *x0.shape)
            rows = torch.autograd.grad(x0, w, grad_outputs=basis, is_grads_batched=True)[0]  # (D, B, D)
        return x0.detach(), rows.transpose(0, 1)

    def to_data(self, w: Tensor) -> np.ndarray:
        """Model coordinates (B, D) to data coordinates (B, *shape)."""
        return self.affine.to_data(w).cpu().numpy().reshape(w.shape[0], *self.data_shape)

    @staticmethod
    def _steps(w: Tensor, t: int) -> Tensor:
        return torch.full((w.shape[0],), t, dtype=torch.long, device=w.device)


@dataclass(frozen=True)
class GaussianPath(Path):
    """A Gaussian chain conditioned one way: x_T from N(0, I) r_T, then tilted draws down to x_0."""

    reverse: GaussianReverse

    @abc.abstractmethod
    def tilted_draw(self, mean: Tensor, var: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        """A draw of x_s from N(mean, diag var) r_s(x_s), normalized."""

    def start(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, "GaussianPath"]:
        zero = torch.zeros(n, self.reverse.dim, dtype=torch.float64, device=self.reverse.affine.M.device)
        return self.tilted_draw(zero, torch.ones_like(zero), self.reverse.T, generator), self.reverse.T, self

    def step(self, x: Tensor, t: int, generator: torch.Generator | None) -> Tensor:
        mean, var = self.reverse.moments(x, t)
        return self.tilted_draw(mean, var, t - 1, generator)

    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        return evidence.restore_known(self.reverse.to_data(x0), rows)  # exact already, up to rounding


class GaussianParticles(ParticlePath):
    """Weighted draws of a Gaussian path (mixed into a path class that has ``reverse``): x_T as
    the path's start draws it, each x_{t-1} from the kernel's N(mu, diag Sigma) as its step does."""

    reverse: GaussianReverse

    @abc.abstractmethod
    def weighted_draw(self, mean: Tensor, var: Tensor, s: int, log_twist: Tensor, generator: torch.Generator | None) -> Draw:
        """``tilted_draw``'s draw of x_s, weighed against N(mean, diag var) r_s (``log_twist``: r_{s+1}'s)."""

    def weighted_start(self, n: int, generator: torch.Generator | None) -> Draw:
        zero = torch.zeros(n, self.reverse.dim, dtype=torch.float64, device=self.reverse.affine.M.device)
        return self.weighted_draw(zero, torch.ones_like(zero), self.reverse.T, zero[:, 0], generator)

    def weighted_step(self, x: Tensor, log_twist: Tensor, t: int, generator: torch.Generator | None) -> Draw:
        mean, var = self.reverse.moments(x, t)
        return self.weighted_draw(mean, var, t - 1, log_twist, generator)
