"""The model: a diffusion process and a network; the learned reverse process *is* the model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .process import DiffusionProcess
from .schedule import ScheduleTable
from .timesteps import StepStatistics


class DiffusionModel(nn.Module):
    """p(x_{0:T}) = p(x_T) prod_t p(x_{t-1} | x_t), with p(x_{t-1} | x_t) from ``network``.

    Math runs in float64 (terms of the bound cancel); the network runs in its own dtype.
    ``steps`` holds per-step statistics of the terms (importance sampling, control variates).
    """

    def __init__(self, process: DiffusionProcess, network: nn.Module):
        super().__init__()
        self.process = process
        self.network = network
        with torch.no_grad():
            self.steps = StepStatistics(process.cv_reference(process.table()))

    @property
    def T(self) -> int:
        return self.process.T

    def _network_dtype(self) -> torch.dtype:
        return next(self.network.parameters()).dtype

    def kernel(self, xt: Tensor, t: Tensor, table: ScheduleTable) -> Any:
        """p(x_{t-1} | x_t) for a batch of states ``xt`` (float64) at steps ``t`` (long, (B,))."""
        s = self.process.time_coordinate()[t]
        z = self.network(self.process.network_input(xt).to(self._network_dtype()), t, s)
        return self.process.reverse(z.to(torch.float64), xt, t, table)

    def raw_terms(self, x0: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> tuple[Tensor, Tensor]:
        """(ell_t, u) per example: the term in nats for x_t = q_sample(x_0, t, noise), and the
        control-variate feature of that noise."""
        xt = self.process.q_sample(x0, t, noise, table)
        ell = self.process.term(x0, xt, t, self.kernel(xt, t, table), table)
        return ell, self.process.noise_feature(noise)

    def terms(self, x0: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable | None = None) -> Tensor:
        """ell_t - a_t u per example (nats): the same expectation as ell_t, less Monte Carlo noise."""
        table = self.process.table() if table is None else table
        ell, u = self.raw_terms(x0, t, noise, table)
        return ell - self.steps.cv_coefficient[t - 1] * u

    def forward(self, x0: Tensor, t: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ell_t, u, ell_prior) per example: the training loop's entry (and DDP's)."""
        table = self.process.table()
        ell, u = self.raw_terms(x0, t, noise, table)
        return ell, u, self.process.prior_term(x0, table)
