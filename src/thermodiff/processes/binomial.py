"""Binomial diffusion as a process: binary data, Bernoulli(pi) noise, a learned Bernoulli reverse rate.

The reverse rate is built from the network's prediction of the data through the exact
posterior (DESIGN.md's measured lesson; a directly output rate learns far more slowly):
    p(x_{t-1} = 1 | x_t) = sum_{x_0} q(x_{t-1} = 1 | x_t, x_0) p(x_0 | x_t),
per bit, with logit p(x_0 = 1 | x_t) = z + the logit that independent Bernoulli(pi) units would
give (a skip path: an untrained network is already that null model). Under q the bits are
independent given x_0, so only each bit's marginal p(x_0,i | x_t) is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..equations import binomial as b
from ..equations.shapes import at, sum_per_example as _sum
from ..errors import ConfigError, DataError
from ..schedule import Schedule, ScheduleKind, ScheduleTable
from .base import DiffusionConfig, DiscreteProcess


def _ones(x0: Tensor) -> Tensor:
    return torch.ones(x0.shape[0], dtype=x0.dtype, device=x0.device)


@dataclass(frozen=True)
class ReverseBernoulli:
    """p(x_{t-1} = 1 | x_t) = sigmoid(logit); x0_logit = logit p(x_0 = 1 | x_t). float64."""

    logit: Tensor
    x0_logit: Tensor


class BinomialDiffusion(DiscreteProcess):
    """q(x_t = 1 | x_{t-1}) = x_{t-1} (1 - beta_t) + pi beta_t;  p(x_T) = Bernoulli(pi)."""

    out_channels = 1
    continuous = False

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        if config.pi is None:
            raise ConfigError("binomial diffusion needs a stationary rate pi in (0, 1)")
        if ScheduleKind(config.schedule) is ScheduleKind.LEARNED:
            raise ConfigError("binomial diffusion cannot learn its schedule: x_t is drawn by thresholding, which has "
                              "no gradient with respect to beta; choose --schedule paper, linear, cosine or logsnr")
        self.pi = float(config.pi)
        self.schedule = Schedule(config.schedule, config.T, config.beta_1, config.beta_max)
        with torch.no_grad():
            self.register_buffer("_time", self.schedule.table().one_minus_alpha_bar.to(torch.float32))

    @classmethod
    def check_data(cls, x: np.ndarray, name: str) -> None:
        if not np.isin(x, (0.0, 1.0)).all():
            raise DataError(f"{name}: binomial diffusion needs data whose values are all 0 or 1")

    @classmethod
    def data_defaults(cls, config: DiffusionConfig, train_x: np.ndarray) -> DiffusionConfig:
        """pi, where unset: the training data's mean activity (as in the paper's heartbeat run)."""
        if config.pi is not None:
            return config
        return replace(config, pi=float(np.clip(train_x.mean(), 1e-3, 1 - 1e-3)))

    def table(self) -> ScheduleTable:
        return self.schedule.table()

    def time_coordinate(self) -> Tensor:
        return self._time  # the fraction of bits redrawn by step t

    def network_input(self, xt: Tensor) -> Tensor:
        return 2.0 * xt - 1.0

    # -- randomness ------------------------------------------------------------------------
    def noise_like(self, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> Tensor:
        return (noise < b.q_marginal_rate(x0, at(table.alpha_bar, t, x0), self.pi)).to(x0.dtype)

    def antithetic(self, noise: Tensor) -> Tensor:
        return 1.0 - noise

    def noise_feature(self, noise: Tensor) -> Tensor:
        return _sum(noise - 0.5)

    def noise_feature_variance(self, x0: Tensor) -> float:
        return x0[0].numel() / 12.0

    def cv_reference(self, table: ScheduleTable) -> Tensor:
        return torch.zeros(table.T, dtype=torch.float64)

    # -- the reverse kernel ------------------------------------------------------------------
    def null_x0_logit(self, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
        """logit p(x_0 = 1 | x_t) for independent Bernoulli(pi) bits: logit pi + log q(x_t|1) - log q(x_t|0)."""
        abar = at(table.alpha_bar, t, xt)
        one1, one0 = b.log_rates(b.q_marginal_rate(1.0, abar, self.pi))  # per example, broadcast over bits
        zero1, zero0 = b.log_rates(b.q_marginal_rate(0.0, abar, self.pi))
        like1 = xt * one1 + (1 - xt) * one0
        like0 = xt * zero1 + (1 - xt) * zero0
        return math.log(self.pi / (1 - self.pi)) + like1 - like0

    def reverse(self, net_out: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> ReverseBernoulli:
        x0_logit = net_out[:, 0] + self.null_x0_logit(xt, t, table)
        step = t.clamp(min=2)  # the posterior is defined for t >= 2; t = 1 is the decoder below
        post1 = b.q_posterior_logit(xt.new_ones(()), xt, step, table, self.pi)
        post0 = b.q_posterior_logit(xt.new_zeros(()), xt, step, table, self.pi)
        rate = b.mixture_logit(post1, post0, x0_logit)
        is_decoder = (t == 1).reshape(-1, *([1] * (xt.dim() - 1)))
        return ReverseBernoulli(logit=torch.where(is_decoder, x0_logit, rate), x0_logit=x0_logit)

    def decoder_nll(self, x0: Tensor, kernel: ReverseBernoulli) -> Tensor:
        return -_sum(b.bernoulli_log_prob(x0, kernel.logit))

    def posterior_kl(self, x0: Tensor, xt: Tensor, t: Tensor, kernel: ReverseBernoulli, table: ScheduleTable) -> Tensor:
        return _sum(b.bernoulli_kl(b.q_posterior_logit(x0, xt, t.clamp(min=2), table, self.pi), kernel.logit))

    def prior_kl(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        rate = b.q_marginal_rate(x0, table.alpha_bar[-1], self.pi)
        logit_q = torch.log(rate.clamp(min=1e-300)) - torch.log((1 - rate).clamp(min=1e-300))
        return _sum(b.bernoulli_kl(logit_q, torch.full_like(x0, math.log(self.pi / (1 - self.pi)))))

    # -- entropies -------------------------------------------------------------------------
    def _h_given_x0(self, x0: Tensor, alpha_bar: Tensor) -> Tensor:
        return _sum(b.binary_entropy(b.q_marginal_rate(x0, alpha_bar, self.pi)))

    def edge_reference(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        return self._h_given_x0(x0, table.alpha_bar[1])

    def eq14_offset(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        h_prior = b.binary_entropy(torch.tensor(self.pi, dtype=x0.dtype)) * x0[0].numel()
        return self._h_given_x0(x0, table.alpha_bar[-1]) - self._h_given_x0(x0, table.alpha_bar[1]) - h_prior * _ones(x0)

    def entropy_bounds(self, table: ScheduleTable, x0: Tensor) -> tuple[Tensor, Tensor]:
        lower, upper = b.entropy_bounds(table, self.pi, x0.mean())
        # t = 1 bounds H_q(X_0 | X_1): its lower side needs H_q(X_0|X_0) = 0, which the formula has
        return lower, upper

    def kernel_entropy(self, kernel: ReverseBernoulli) -> Tensor:
        return b.binary_entropy(torch.sigmoid(kernel.logit))

    # -- sampling and the null model ---------------------------------------------------------
    def sample_prior(self, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
        return (torch.rand(shape, generator=generator, device=device, dtype=torch.float64) < self.pi).to(torch.float64)

    def sample_step(self, kernel: ReverseBernoulli, generator: torch.Generator | None) -> Tensor:
        u = torch.rand(kernel.logit.shape, generator=generator, device=kernel.logit.device, dtype=kernel.logit.dtype)
        return (u < torch.sigmoid(kernel.logit)).to(kernel.logit.dtype)

    def log_null(self, x0: Tensor) -> Tensor:
        """Independent Bernoullis at rate pi (by default the data's mean activity, as in the paper)."""
        return _sum(x0 * math.log(self.pi) + (1 - x0) * math.log(1 - self.pi))
