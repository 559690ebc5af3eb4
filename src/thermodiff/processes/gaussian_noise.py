"""What every Gaussian process shares: standard normal noise, its mirror image and its control
variate feature, and the null model (a unit isotropic Gaussian, the paper's L_null)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..equations.gaussian import normal_log_prob
from ..equations.shapes import sum_per_example


class GaussianNoise:
    """Mixed into a DiffusionProcess whose x_t = a x_0 + b eps with eps ~ N(0, I)."""

    def noise_like(self, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)

    def antithetic(self, noise: Tensor) -> Tensor:
        return -noise

    def noise_feature(self, noise: Tensor) -> Tensor:
        """u = sum_i (eps_i^2 - 1): zero mean, variance 2 D."""
        return sum_per_example(noise**2 - 1.0)

    def noise_feature_variance(self, x0: Tensor) -> float:
        return 2.0 * x0[0].numel()

    def log_null(self, x0: Tensor) -> Tensor:
        """A unit isotropic Gaussian (the paper's L_null for continuous data), in nats."""
        zero = torch.zeros_like(x0)
        return sum_per_example(normal_log_prob(x0, zero, zero))
