"""Variance reduction for the bound's estimators: which steps t to draw, and control variates.

Step selection. The sum over t of the bound's terms is estimated from a few steps per example,
sum_s w_s ell_{t_s}, with weights that make it unbiased (``StepDraws``). Training draws t with probability p(t) and uses ell_t / p(t), an unbiased one-sample estimate
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

from dataclasses import dataclass
from enum import Enum
from typing import Callable

import torch
from torch import Tensor, nn

from .equations.shapes import gather
from .errors import ConfigError


class TSampling(str, Enum):
    UNIFORM = "uniform"
    IMPORTANCE = "importance"


@dataclass(frozen=True)
class StepDraws:
    """Steps per example and their weights: sum_s w[:, s] ell_{t[:, s]} is unbiased for sum_t ell_t."""

    t: Tensor  # (n, S) long, in 1..T
    w: Tensor  # (n, S) float64

    @property
    def per_example(self) -> int:
        return self.t.shape[1]


def every_step(T: int, n: int, device: torch.device) -> StepDraws:
    """All steps t = 1..T for each of n examples, weight 1."""
    return StepDraws(t=torch.arange(1, T + 1, device=device).expand(n, T),
                     w=torch.ones(n, T, dtype=torch.float64, device=device))


def stratified_steps(T: int, t_samples: int, n: int, generator: torch.Generator | None, device: torch.device,
                     proposal: Tensor | None = None) -> StepDraws:
    """The decoder step t = 1 always, plus M = t_samples steps from 2..T by stratified importance
    sampling: u_k uniform in [k/M, (k+1)/M), t_k = F^{-1}(u_k) for the proposal's CDF F, weight
    1 / (M q(t_k)). Each stratum of u covers probability 1/M, so the sum is unbiased for any
    proposal q > 0 over 2..T (uniform if none is given)."""
    q = torch.full((T - 1,), 1.0 / (T - 1), dtype=torch.float64, device=device) if proposal is None else proposal.to(device)
    q = q / q.sum()
    cdf = torch.cumsum(q, 0)
    u = (torch.arange(t_samples, device=device) + torch.rand(n, t_samples, generator=generator, device=device, dtype=torch.float64)) / t_samples
    idx = torch.searchsorted(cdf, u, right=True).clamp(max=T - 2)
    t = torch.cat([torch.ones(n, 1, dtype=torch.long, device=device), idx + 2], dim=1)
    w = torch.cat([torch.ones(n, 1, dtype=torch.float64, device=device), 1.0 / (t_samples * q[idx])], dim=1)
    return StepDraws(t=t, w=w)


def step_selection(T: int, t_samples: int, n: int, generator: torch.Generator | None, device: torch.device,
                   proposal: Tensor | None = None) -> StepDraws:
    """``every_step`` for t_samples = 0 (or >= T - 1), else ``stratified_steps``."""
    if t_samples <= 0 or t_samples >= T - 1:
        return every_step(T, n, device)
    return stratified_steps(T, t_samples, n, generator, device, proposal)


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
        if kind is TSampling.UNIFORM or not bool(self.seen.all()):  # a step never seen yet
            return torch.full_like(self.second_moment, 1.0 / self.T)
        weights = torch.sqrt(self.second_moment)
        return (1.0 - self.uniform_mix) * weights / weights.sum() + self.uniform_mix * (1.0 / self.T)

    def evaluation_draws(self, t_samples: int, n: int, generator: torch.Generator | None, device: torch.device,
                         uniform: bool = False) -> StepDraws:
        """Steps for evaluating n examples (``step_selection``), drawn by the running term sizes
        unless ``uniform`` (then every draw depends on the generator alone)."""
        proposal = None if uniform else self.probabilities(TSampling.IMPORTANCE)[1:]  # over t = 2..T
        return step_selection(self.T, t_samples, n, generator, device, proposal)

    def estimator_name(self, t_samples: int) -> str:
        return "full" if t_samples <= 0 or t_samples >= self.T - 1 else f"stratified-importance({t_samples})"

    def rows_per_example(self, t_samples: int) -> int:
        return self.T if t_samples <= 0 or t_samples >= self.T - 1 else t_samples + 1

    def control(self, t: Tensor, u: Tensor) -> Tensor:
        """a_t u: zero in expectation, subtracted from each term."""
        return gather(self.cv_coefficient, t - 1) * u

    def draw(self, kind: TSampling, n: int, generator: torch.Generator | None) -> StepDraws:
        """One step per example, t ~ p(t), weighted 1 / p(t) (on this module's device)."""
        p = self.probabilities(kind)
        u = torch.rand(n, generator=generator, device=generator.device if generator is not None else None, dtype=torch.float64)
        idx = torch.searchsorted(torch.cumsum(p, 0).to(u.device), u, right=True).clamp(max=self.T - 1)
        idx = idx.to(p.device)
        return StepDraws(t=(idx + 1)[:, None], w=gather(p, idx).reciprocal()[:, None])  # 1 / p(t)

    @torch.no_grad()
    def start_from(self, expected: Tensor) -> None:
        """Steps drawn in proportion to known expected terms (t = 1..T) until batches say otherwise:
        a chain that knows its steps' sizes in advance needs no statistics to importance-sample them."""
        self.second_moment.copy_(expected.to(self.second_moment) ** 2)
        self.seen.fill_(1)

    @torch.no_grad()
    def update(self, t: Tensor, centred: Tensor, raw: Tensor, u: Tensor, u_variance: float) -> None:
        """Fold in one batch: ``centred`` = ell_t - r_t (control variate applied), ``raw`` = ell_t
        without it, ``u`` the control-variate feature and ``u_variance`` its exact variance.

        Three exponential running means per step, updated together: the second moment of
        ``centred`` (for p(t)), the control-variate coefficient a_t, and the mean of ell_t. Steps
        seen for the first time take this batch's mean outright (a_t keeps its reference value).
        The regression a_t <- a_t + s((ell - m_t) u / Var(u) - a_t) uses the running mean m_t of
        ell from earlier batches: E[u] = 0 makes (ell - m_t) u unbiased for Cov(ell, u), and
        taking m_t off keeps ell's large mean from swamping it."""
        idx = t - 1
        raw, u = raw.double(), u.double()
        counts = torch.bincount(idx, minlength=self.T)
        first = self.seen == 0
        slope = (raw - gather(self.term_mean, idx)) * u / float(u_variance)
        centred = centred.double()
        values = torch.stack([centred * centred, slope, raw])  # (3, B)
        sums = values.new_zeros(3, self.T).index_add_(1, idx, values)
        buffers = (self.second_moment, self.cv_coefficient, self.term_mean)
        current = torch.stack(buffers)
        weight = torch.stack([counts, counts * (~first), counts])
        mean = sums / weight.clamp(min=1)
        reset = torch.stack([first, torch.zeros_like(first), first])
        blended = torch.where(reset, mean, current + self.smoothing * (mean - current))
        torch._foreach_copy_(list(buffers), list(torch.where(weight > 0, blended, current).unbind(0)))
        self.seen += counts


class UniformTimes(nn.Module):
    """Times for a continuous-time process, t in [0, 1]: no statistics to keep (the schedule's shape,
    when learned, is what reduces the variance). Training draws one time per example on a shifted
    grid, t_b = (u + b / n) mod 1 (Kingma et al.'s low-discrepancy sampler); evaluation draws
    t_samples stratified times per example, t_k = (k + u_k) / M, each weighted 1 / M.

    Control variate: a(t) u with u = sum(eps^2 - 1) and a fixed coefficient a(t) from the process
    (``reference``: exact for unit-variance Gaussian data), which removes the chi-square noise of
    ||x - x_hat||^2 at high signal-to-noise ratios."""

    def __init__(self, reference: Callable[[Tensor], Tensor] | None = None):
        super().__init__()
        self.reference = reference

    def draw(self, kind: TSampling, n: int, generator: torch.Generator | None) -> StepDraws:
        device = generator.device if generator is not None else None
        u = torch.rand((), generator=generator, device=device, dtype=torch.float64)
        t = torch.remainder(u + torch.arange(n, device=device, dtype=torch.float64) / n, 1.0)
        return StepDraws(t=t[:, None], w=torch.ones(n, 1, dtype=torch.float64, device=device))

    def evaluation_draws(self, t_samples: int, n: int, generator: torch.Generator | None, device: torch.device,
                         uniform: bool = False) -> StepDraws:
        if t_samples < 1:
            raise ConfigError("a continuous-time bound integrates over t: --t-samples must be at least 1")
        M = t_samples
        u = torch.rand(n, M, generator=generator, device=device, dtype=torch.float64)
        t = (torch.arange(M, device=device, dtype=torch.float64) + u) / M
        return StepDraws(t=t, w=torch.full((n, M), 1.0 / M, dtype=torch.float64, device=device))

    def estimator_name(self, t_samples: int) -> str:
        return f"stratified-uniform-time({max(t_samples, 1)})"

    def rows_per_example(self, t_samples: int) -> int:
        return max(t_samples, 1)

    def control(self, t: Tensor, u: Tensor) -> Tensor:
        if self.reference is None:
            return torch.zeros_like(u)
        with torch.no_grad():
            return self.reference(t.reshape(-1)).reshape(u.shape) * u

    def update(self, t: Tensor, centred: Tensor, raw: Tensor, u: Tensor, u_variance: float) -> None:
        """Nothing to keep."""
