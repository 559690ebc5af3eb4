"""Unbiased estimates of K for each example, with the size of their Monte Carlo noise.

Estimators (``t_samples``; variance.py draws the times): ``full`` sums every step t = 1..T, each
with its own draw of x_t; ``stratified`` takes the decoder step and M steps of 2..T by stratified
importance sampling from the model's running term sizes (unbiased for any proposal; cheaper for
large T); a continuous-time model integrates over t with M stratified uniform times. Several
independent trajectories per example shrink the Monte Carlo noise, and their spread gives that
noise's size. Everything is accumulated in float64 and reported in bits. The terms themselves
are assembled by ``thermodiff.bound.minus_K``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..bound import BITS_PER_NAT, K_eq14
from ..model import DiffusionModel
from ..variance import StepDraws


@dataclass(frozen=True)
class BoundEstimate:
    """Per-example estimates in bits per example (model coordinates), shapes (N,)."""

    K: Tensor  # the provable lower bound on log2 p(x_0), averaged over trajectories
    K_mc_var: Tensor  # Monte Carlo variance of that average (nan with one trajectory)
    K_eq14: Tensor  # the paper's eq. 14 on the same draws (not a guaranteed bound)
    log_null: Tensor  # L_null per example
    trajectories: int
    estimator: str

    @property
    def n(self) -> int:
        return self.K.numel()

    def mean(self) -> float:
        return float(self.K.mean())

    def stderr(self) -> float:
        """Standard error of the mean over examples; it includes the Monte Carlo noise (nan for one example)."""
        return float(self.K.std(unbiased=True) / math.sqrt(self.n)) if self.n > 1 else float("nan")

    def mc_stderr_per_example(self) -> float:
        """Median over examples of the Monte Carlo standard error of each example's bound."""
        return float(self.K_mc_var.clamp(min=0).sqrt().median())


def _draws(model: DiffusionModel, x0: Tensor, steps: StepDraws, pair: bool, generator, rows: int) -> tuple[Tensor, Tensor]:
    """(-K, sum of the KLs) per example in nats, each (D, n), for D = 1 draw or D = 2 (an
    antithetic pair, sharing steps and mirrored noise); about ``rows`` rows per network call."""
    process, table = model.process, model.process.table()
    n, S = steps.t.shape
    per = max(1, rows // S)
    totals, kls = [], []
    for start in range(0, n, per):
        part = slice(start, min(start + per, n))
        xb, sb = x0[part], StepDraws(steps.t[part], steps.w[part])
        noise = process.noise_like(xb.repeat_interleave(S, dim=0), generator)
        terms = [model(xb, sb, z, table) for z in ([noise, process.antithetic(noise)] if pair else [noise])]
        totals.append(torch.stack([m.total for m in terms]))
        kls.append(torch.stack([m.kls for m in terms]))
    return torch.cat(totals, dim=1), torch.cat(kls, dim=1)


@torch.no_grad()
def estimate_bound(
    model: DiffusionModel,
    x0: Tensor,
    generator: torch.Generator | None,
    trajectories: int = 2,
    t_samples: int = 0,
    batch_examples: int = 256,
    rows: int = 65536,
    uniform_steps: bool = False,
) -> BoundEstimate:
    """Unbiased per-example estimates of K for data ``x0`` in model coordinates (float64, (N, *shape)).

    ``trajectories`` draws per example, in antithetic pairs when it is even (the pairs cancel
    the part of each term that is odd in the noise). The Monte Carlo variance is estimated from
    the spread of the independent units (pairs, or single draws). ``uniform_steps`` draws the
    sampled steps uniformly instead of by the model's term sizes: every draw then depends on the
    generator alone, so two models scored with the same seed see the same steps and noise.
    """
    if trajectories < 1:
        raise ValueError(f"trajectories must be at least 1, got {trajectories}")
    pair = trajectories % 2 == 0
    units = trajectories // 2 if pair else trajectories
    rows = min(rows, max(64, 2**15 // x0[0].numel()))  # rows per network call: large image batches run slower on CPU
    process = model.process
    table = process.table()
    K_all, var_all, eq14_all = [], [], []
    for start in range(0, x0.shape[0], batch_examples):
        xb = x0[start:start + batch_examples]
        minus_K, kls = [], []
        for _ in range(units):
            steps = model.steps.evaluation_draws(t_samples, xb.shape[0], generator, x0.device, uniform=uniform_steps)
            total, kl = _draws(model, xb, steps, pair, generator, rows)
            minus_K.append(total.mean(0))
            kls.append(kl.mean(0))
        minus_K, kls = torch.stack(minus_K), torch.stack(kls)  # (units, b)
        K_all.append(-minus_K.mean(0))
        var_all.append(minus_K.var(0, unbiased=True) / units if units > 1 else torch.full_like(minus_K[0], float("nan")))
        eq14_all.append(K_eq14(kls, process, xb, table).mean(0))
    return BoundEstimate(
        K=torch.cat(K_all) * BITS_PER_NAT,
        K_mc_var=torch.cat(var_all) * BITS_PER_NAT**2,
        K_eq14=torch.cat(eq14_all) * BITS_PER_NAT,
        log_null=process.log_null(x0) * BITS_PER_NAT,
        trajectories=trajectories,
        estimator=model.steps.estimator_name(t_samples),
    )
