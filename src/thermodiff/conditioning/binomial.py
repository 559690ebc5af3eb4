"""Posterior sampling for binomial diffusion: known bits reweight each step's Bernoulli rate.

Binary data are modelled in their own coordinates. The evidence is a delta on known bits.
Each reverse step's kernel is a product of Bernoullis with logits l_i; multiplying by r_s gives
- ``paper``: r_s = r, so known bits are set to their values at every step;
- ``diffused``: r_s(x) = prod_k p(x_0,k = v_k | x_s = x), the model's own prediction of the known
  bits from the state. Its log is linearized in x at the kernel's mean rate x̄ (the bits relaxed
  to [0, 1]); a log-linear factor keeps the bits independent and adds its slope to each logit:
  l_i + d log r_s / dx_i |_x̄ (the "reweighted rate"). At s = 0 both methods clamp exactly.
- ``smc``: the reweighted rates as the proposal of sequential Monte Carlo (particles.py), weighed
  with the twist r_s(x) = prod_k p(x_0,k = v_k | x_s = x) itself, not linearized.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..equations import binomial as b
from ..errors import DataError
from ..model import DiffusionModel
from ..schedule import ScheduleTable
from .base import Conditioner, Draw, ParticlePath, Path
from .config import Method
from .evidence import Evidence, Inpainting


def bernoulli_draw(logit: Tensor, generator: torch.Generator | None) -> Tensor:
    """Independent bits, each 1 with probability sigmoid(logit)."""
    u = torch.rand(logit.shape, generator=generator, device=logit.device, dtype=logit.dtype)
    return (u < torch.sigmoid(logit)).to(logit.dtype)


@dataclass(frozen=True)
class BinomialPath(Path):
    """The paper's r_s = r: known bits clamped at every step."""

    model: DiffusionModel
    table: ScheduleTable  # detached: a learned schedule's gradients are never wanted in sampling
    known: Tensor  # (B, *shape) bool
    values: Tensor  # (B, *shape) float64, 0 where unknown

    def count(self) -> int:
        return self.known.shape[0]

    def select(self, rows: Tensor) -> "BinomialPath":
        return replace(self, known=self.known[rows], values=self.values[rows])

    def start(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, "BinomialPath"]:
        return self.tilted_draw(self.prior_logit(), self.model.T, generator), self.model.T, self

    def step(self, x: Tensor, t: int, generator: torch.Generator | None) -> Tensor:
        return self.tilted_draw(self.kernel_logit(x, t), t - 1, generator)

    def prior_logit(self) -> Tensor:
        """The logits of p(x_T) = Bernoulli(pi), one per bit."""
        pi = self.model.process.pi
        return torch.full(self.known.shape, float(np.log(pi / (1 - pi))), dtype=torch.float64, device=self.known.device)

    def kernel_logit(self, x: Tensor, t: int) -> Tensor:
        """The logits of p(x_{t-1} | x_t = x)."""
        with torch.no_grad():
            return self.model.kernel(x, self._steps(x, t), self.table).logit

    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        return evidence.restore_known(x0.cpu().numpy(), rows)

    def tilted_draw(self, logit: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        """A draw of x_s from independent Bernoullis with these logits, times r_s."""
        return torch.where(self.known, self.values, bernoulli_draw(logit, generator))

    @staticmethod
    def _steps(x: Tensor, t: int) -> Tensor:
        return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


@dataclass(frozen=True)
class DiffusedBinomialPath(BinomialPath):
    """r_s(x) = prod_k p(x_0,k = v_k | x_s = x), log-linearized: the reweighted rate."""

    def tilted_draw(self, logit: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        if s == 0:  # the last step uses r itself
            return super().tilted_draw(logit, s, generator)
        return bernoulli_draw(logit + self.slope(torch.sigmoid(logit), s), generator)

    def slope(self, rate: Tensor, s: int) -> Tensor:
        """d/dx sum_k log p(x_0,k = v_k | x_s = x) at x = rate."""
        x = rate.detach().requires_grad_(True)
        with torch.enable_grad():
            x0_logit = self.model.kernel(x, self._steps(x, s), self.table).x0_logit
            log_r = torch.where(self.known, b.bernoulli_log_prob(self.values, x0_logit), 0.0).sum()
            return torch.autograd.grad(log_r, x)[0]


@dataclass(frozen=True)
class ParticleBinomialPath(DiffusedBinomialPath, ParticlePath):
    """The reweighted rates, weighed: p r_s / g = prod_i Bern(x_i; l_i) / Bern(x_i; l_i + slope_i) r_s(x)."""

    def weighted_start(self, n: int, generator: torch.Generator | None) -> Draw:
        return self.weighted_draw(self.prior_logit(), self.model.T, generator)

    def weighted_step(self, x: Tensor, log_twist: Tensor, t: int, generator: torch.Generator | None) -> Draw:
        return self.weighted_draw(self.kernel_logit(x, t), t - 1, generator)

    def weighted_draw(self, logit: Tensor, s: int, generator: torch.Generator | None) -> Draw:
        if s == 0:  # known bits clamped, the rest from the kernel: p r / g = p(known bits | x_1), whatever is drawn
            x = self.tilted_draw(logit, s, generator)
            log_gain = self.log_known(logit)
            return Draw(x, log_gain, torch.zeros_like(log_gain))
        tilted = logit + self.slope(torch.sigmoid(logit), s)
        x = bernoulli_draw(tilted, generator)
        with torch.no_grad():
            twist = self.log_known(self.model.kernel(x, self._steps(x, s), self.table).x0_logit)
        ratio = (b.bernoulli_log_prob(x, logit) - b.bernoulli_log_prob(x, tilted)).flatten(1).sum(-1)
        return Draw(x, ratio + twist, twist)

    def log_known(self, logit: Tensor) -> Tensor:
        """sum over known bits k of log Bernoulli(v_k; sigmoid(logit_k)), per example."""
        return torch.where(self.known, b.bernoulli_log_prob(self.values, logit), 0.0).flatten(1).sum(-1)


PATHS: dict[Method, type[BinomialPath]] = {Method.PAPER: BinomialPath, Method.DIFFUSED: DiffusedBinomialPath,
                                           Method.SMC: ParticleBinomialPath}


class BinomialConditioner(Conditioner):
    """Inpainting of known bits."""

    def prepare(self, evidence: Evidence, device: torch.device) -> BinomialPath:
        if not isinstance(evidence, Inpainting):
            raise DataError("binary runs can be conditioned on known bits (inpainting) only; denoising with a "
                            "Gaussian noise level, or a smooth log r, needs a Gaussian run")
        values = evidence.observed[evidence.mask]
        if not np.isin(values, (0.0, 1.0)).all():
            raise DataError("the known values of a binary run must be 0 or 1")
        known = torch.as_tensor(evidence.mask, device=device)
        return PATHS[self.method](self.model, self.process.table().detach(), known,
                                  torch.as_tensor(np.where(evidence.mask, evidence.observed, 0.0), device=device))
