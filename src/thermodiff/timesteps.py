"""Per-step statistics of the bound's terms: which t to train on, and control variates.

Training draws t with probability p(t) and uses ell_t / p(t), an unbiased one-sample estimate
of sum_t ell_t. With p(t) proportional to sqrt(E[(ell_t - r_t)^2]) (Nichol & Dhariwal 2021;
r_1 = H_q(X_1|X_0) and r_t = 0 otherwise, since only the decoder's excess over that entropy can
be learned), steps whose terms are large or noisy are drawn more often and weighted less.

Control variates: each term is drawn with process noise whose statistics are known exactly,
so a feature u(noise) with E[u] = 0 (for Gaussian noise u = sum_i (eps_i^2 - 1)) can be
subtracted, ell_t - a_t u, without changing any expectation. The chi-square-like fluctuation of
each KL term at fine scales moves with u, so a good a_t removes most of the Monte Carlo noise of
per-example bounds. a_t starts at the process's reference value and is refined during training
by a running regression of ell_t on u; at evaluation it is a fixed number, so the bound stays
unbiased.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor, nn


class TSampling(str, Enum):
    UNIFORM = "uniform"
    IMPORTANCE = "importance"


class StepStatistics(nn.Module):
    """Running per-step moments (buffers, so checkpoints carry them) and the draws they imply."""

    def __init__(self, cv_reference: Tensor, smoothing: float = 0.01, uniform_mix: float = 0.1):
        super().__init__()
        T = cv_reference.numel()
        self.smoothing = smoothing
        self.uniform_mix = uniform_mix
        self.register_buffer("second_moment", torch.zeros(T, dtype=torch.float64))
        self.register_buffer("seen", torch.zeros(T, dtype=torch.long))
        # control-variate coefficients a_t, and the running mean of ell_t that their regression uses
        self.register_buffer("cv_coefficient", cv_reference.to(torch.float64).clone())
        self.register_buffer("term_mean", torch.zeros(T, dtype=torch.float64))

    @property
    def T(self) -> int:
        return self.second_moment.numel()

    def probabilities(self, kind: TSampling) -> Tensor:
        """p(t) for t = 1..T, float64, (T,)."""
        uniform = torch.full_like(self.second_moment, 1.0 / self.T)
        if kind is TSampling.UNIFORM or bool((self.seen == 0).any()):
            return uniform
        weights = torch.sqrt(self.second_moment)
        return (1.0 - self.uniform_mix) * weights / weights.sum() + self.uniform_mix * uniform

    def sample(self, kind: TSampling, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """(t, p(t)) for n draws; t is long in 1..T, on this module's device."""
        p = self.probabilities(kind)
        u = torch.rand(n, generator=generator, device=generator.device if generator is not None else None, dtype=torch.float64)
        idx = torch.searchsorted(torch.cumsum(p, 0).to(u.device), u, right=True).clamp(max=self.T - 1)
        idx = idx.to(p.device)
        return idx + 1, p[idx]

    def _running(self, current: Tensor, idx: Tensor, values: Tensor, counts: Tensor, reset: Tensor) -> Tensor:
        """Exponential running means per step: steps in ``reset`` take this batch's mean outright."""
        sums = torch.zeros_like(current).index_add_(0, idx, values)
        mean = sums / counts.clamp(min=1)
        blended = torch.where(reset, mean, current + self.smoothing * (mean - current))
        return torch.where(counts > 0, blended, current)

    @torch.no_grad()
    def update(self, t: Tensor, centred: Tensor, raw: Tensor, u: Tensor, u_variance: float) -> None:
        """Fold in one batch: ``centred`` = ell_t - r_t (control variate applied), ``raw`` = ell_t
        without it, ``u`` the control-variate feature and ``u_variance`` its exact variance."""
        idx = t - 1
        raw, u = raw.double(), u.double()
        counts = torch.zeros_like(self.seen).index_add_(0, idx, torch.ones_like(idx))
        first = self.seen == 0
        never = torch.zeros_like(first)
        self.second_moment.copy_(self._running(self.second_moment, idx, centred.double() ** 2, counts, first))
        # regression a_t <- a_t + s((ell - m_t) u / Var(u) - a_t), with m_t the running mean of ell
        # from earlier batches: E[u] = 0 makes (ell - m_t) u unbiased for Cov(ell, u), and taking
        # m_t off keeps ell's large mean from swamping it. Starts at the reference a_t.
        slope = (raw - self.term_mean[idx]) * u / float(u_variance)
        self.cv_coefficient.copy_(self._running(self.cv_coefficient, idx, slope, counts * (~first), never))
        self.term_mean.copy_(self._running(self.term_mean, idx, raw, counts, first))
        self.seen += counts
