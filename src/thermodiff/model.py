"""The model: a diffusion process and a network; the learned reverse process *is* the model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .bound import MinusK, minus_K
from .processes import DiffusionProcess
from .schedule import ScheduleTable
from .variance import StepDraws, StepStatistics


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

    def forward(self, x0: Tensor, steps: StepDraws, noise: Tensor, table: ScheduleTable | None = None) -> MinusK:
        """-K per example (see bound.py): the entry of training (and of DDP) and of evaluation."""
        table = self.process.table() if table is None else table
        return minus_K(self.process, self.kernel, self.steps.cv_coefficient, x0, steps, noise, table)
