"""Any smooth evidence r, by the paper's first-order form (Sec. 2.5.3): each step's Gaussian
N(mu, Sigma) times r_s becomes N(mu + Sigma d log r_s/dx |_mu, Sigma).

- ``paper``: r_s = r at every step.
- ``diffused``: r_s(x) = r(x0_hat_s(x)), r at the model's prediction of x_0 from x_s (the gradient
  flows through the network). The last step uses r itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..equations.products import first_order_tilt
from .gaussian_path import GaussianPath, standard_normal


@dataclass(frozen=True)
class SmoothPath(GaussianPath):
    """The paper's r_s = r; ``n`` chains, all with the same r."""

    log_r: Callable[[Tensor], Tensor]  # data coordinates (B, *shape) -> (B,)
    n: int

    def count(self) -> int:
        return self.n

    def select(self, rows: Tensor) -> "SmoothPath":
        return self

    def tilted_draw(self, mean: Tensor, var: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        tilted = first_order_tilt(mean, var, self.grad_log_r(mean, s))
        return tilted + var.sqrt() * standard_normal(mean.shape, generator, mean)

    def grad_log_r(self, w: Tensor, s: int) -> Tensor:
        """d log r_s / dw at w (model coordinates)."""
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            point = self.argument(w, s)
            x = self.reverse.affine.to_data(point).reshape(point.shape[0], *self.reverse.data_shape)
            return torch.autograd.grad(self.log_r(x).sum(), w)[0]

    def argument(self, w: Tensor, s: int) -> Tensor:
        """Where r_s(w) evaluates r: at w itself."""
        return w


@dataclass(frozen=True)
class DiffusedSmoothPath(SmoothPath):
    """r_s(w) = r(x0_hat_s(w))."""

    def argument(self, w: Tensor, s: int) -> Tensor:
        return w if s == 0 else self.reverse.predict(w, s)[1]
