"""Posterior sampling for binomial diffusion: known bits reweight each step's Bernoulli rate.

Binary data are modelled in their own coordinates. The evidence is a delta on known bits.
Each reverse step's kernel is a product of Bernoullis with logits l_i; multiplying by r_s gives
- ``paper``: r_s = r, so known bits are set to their values at every step;
- ``diffused``: r_s(x) = prod_k p(x_0,k = v_k | x_s = x), the model's own prediction of the known
  bits from the state. Its log is linearized in x at the kernel's mean rate x̄ (the bits relaxed
  to [0, 1]); a log-linear factor keeps the bits independent and adds its slope to each logit:
  l_i + d log r_s / dx_i |_x̄ (the "reweighted rate"). At s = 0 both methods clamp exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..equations import binomial as b
from ..errors import DataError
from .base import Conditioner
from .config import Method
from .evidence import Evidence, Inpainting


class BinomialConditioner(Conditioner):
    """Inpainting of known bits: prepared evidence is (known mask, values), float64 (N, *shape)."""

    def prepare(self, evidence: Evidence, device: torch.device) -> tuple[Tensor, Tensor]:
        if not isinstance(evidence, Inpainting):
            raise DataError("binary runs can be conditioned on known bits (inpainting) only; denoising with a "
                            "Gaussian noise level, or a smooth log r, needs a Gaussian run")
        values = evidence.observed[evidence.mask]
        if not np.isin(values, (0.0, 1.0)).all():
            raise DataError("the known values of a binary run must be 0 or 1")
        known = torch.as_tensor(evidence.mask, device=device)
        return known, torch.as_tensor(np.where(evidence.mask, evidence.observed, 0.0), device=device)

    def count(self, prepared) -> int:
        return prepared[0].shape[0]

    def select(self, prepared, rows: Tensor):
        return prepared[0][rows], prepared[1][rows]

    def start(self, prepared, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, tuple]:
        known, _ = prepared
        logit = torch.full(known.shape, float(np.log(self.process.pi / (1 - self.process.pi))),
                           dtype=torch.float64, device=known.device)
        return self._tilted_draw(logit, self.model.T, prepared, generator), self.model.T, prepared

    def step(self, x: Tensor, t: int, prepared, generator: torch.Generator | None) -> Tensor:
        steps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        with torch.no_grad():
            logit = self.model.kernel(x, steps, self.process.table()).logit
        return self._tilted_draw(logit, t - 1, prepared, generator)

    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        x = x0.cpu().numpy()
        known = evidence.mask[rows]
        x[known] = evidence.observed[rows][known]
        return x

    def _tilted_draw(self, logit: Tensor, s: int, prepared, generator) -> Tensor:
        """A draw of x_s from independent Bernoullis with these logits, times r_s."""
        known, values = prepared
        if s > 0 and self.method is Method.DIFFUSED:
            logit = logit + self._slope(torch.sigmoid(logit), s, known, values)
        u = torch.rand(logit.shape, generator=generator, device=logit.device, dtype=logit.dtype)
        x = (u < torch.sigmoid(logit)).to(logit.dtype)
        if s == 0 or self.method is Method.PAPER:
            x = torch.where(known, values, x)
        return x

    def _slope(self, rate: Tensor, s: int, known: Tensor, values: Tensor) -> Tensor:
        """d/dx sum_k log p(x_0,k = v_k | x_s = x) at x = rate."""
        x = rate.detach().requires_grad_(True)
        steps = torch.full((x.shape[0],), s, dtype=torch.long, device=x.device)
        with torch.enable_grad():
            x0_logit = self.model.kernel(x, steps, self.process.table()).x0_logit
            log_r = torch.where(known, b.bernoulli_log_prob(values, x0_logit), 0.0).sum()
            return torch.autograd.grad(log_r, x)[0]
