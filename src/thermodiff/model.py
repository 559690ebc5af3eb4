"""The model: a diffusion process and a network; the learned reverse process *is* the model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .bound import MinusK, minus_K
from .networks import Precision
from .processes import DiffusionProcess
from .variance import StepDraws, StepStatistics, UniformTimes


class DiffusionModel(nn.Module):
    """p(x_{0:T}) = p(x_T) prod_t p(x_{t-1} | x_t), with p(x_{t-1} | x_t) from ``network``.

    Math runs in float64 (terms of the bound cancel); the network runs in its own dtype.
    ``steps`` holds per-step statistics of the terms (importance sampling, control variates).
    """

    def __init__(self, process: DiffusionProcess, network: nn.Module, precision: Precision = Precision.FLOAT32):
        super().__init__()
        self.process = process
        self.network = network
        self.precision = Precision(precision)
        if process.discrete_time:
            with torch.no_grad():
                self.steps = StepStatistics(process.cv_reference(process.table()))
            expected = process.expected_terms()
            if expected is not None:
                self.steps.start_from(expected)
        else:
            self.steps = UniformTimes(process.control_reference)

    @property
    def T(self) -> int:
        return self.process.T

    def _network_dtype(self) -> torch.dtype:
        return next(self.network.parameters()).dtype

    def kernel(self, xt: Tensor, t: Tensor, table: Any) -> Any:
        """p(x_{t-1} | x_t) for a batch of states ``xt`` (float64) at times ``t`` ((B,): steps, or
        continuous times). The network may run in bfloat16 (autocast); the kernel is float64."""
        index, s = self.process.network_time(t, table)
        z = self._network(self.process.network_input(xt).to(self._network_dtype()), index, s)
        return self.process.reverse(z.to(torch.float64), xt, t, table)

    def _network(self, x: Tensor, index: Tensor, s: Tensor) -> Tensor:
        """The network's output, under bfloat16 autocast if so configured (entering even a disabled
        autocast costs as much as a small tensor operation, and training enters it every step)."""
        if self.precision is not Precision.BF16:
            return self.network(x, index, s)
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            return self.network(x, index, s)

    def forward(self, x0: Tensor, steps: StepDraws, noise: Tensor, table: Any = None) -> MinusK:
        """-K per example (see bound.py): the entry of training (and of DDP) and of evaluation."""
        table = self.process.table() if table is None else table
        return minus_K(self.process, self.kernel, self.steps, x0, steps, noise, table)

    def with_steps(self, steps: int | None = None, profile: Any = None) -> "DiffusionModel":
        """A model whose time runs over steps, to sample, condition and score step by step: this
        one for a discrete-time process (``steps`` None or T); for a continuous-time process, its
        ``steps``-step discretization (default: config.T; with the network's ``profile``, the
        chain that profile makes best), sharing this network."""
        view = self.process.discretized(steps, profile)
        if view is self.process:
            return self
        device = next(self.network.parameters()).device
        return DiffusionModel(view, self.network, self.precision).to(device).train(self.training)
