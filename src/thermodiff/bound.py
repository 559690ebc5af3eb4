"""The lower bound K on log-likelihood (eq. 14 and its provable form), estimated without bias.

    K = -E[ell_1] - sum_{t=2}^T E[ell_t] - ell_prior            (see process.py for the terms)

Every expectation is over x_t ~ q(x_t | x_0); given x_t, each term is exact (a KL between
Gaussians or Bernoullis, or the decoder's log-density), and the prior term is exact. The
estimators here are unbiased for K of each example:
- ``full``: every step t = 1..T, each with its own draw of x_t;
- ``stratified``: the decoder step t = 1 always, and M steps of 2..T by stratified importance
  sampling from the model's running term sizes (unbiased for any proposal; cheaper for large T).
Several independent trajectories per example shrink the Monte Carlo noise, and their spread
gives that noise's size. Everything is accumulated in float64 and reported in bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .model import DiffusionModel
from .timesteps import TSampling

BITS_PER_NAT = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class BoundEstimate:
    """Per-example estimates in bits per example (normalized coordinates), shapes (N,)."""

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
        """Standard error of the mean over examples; it includes the Monte Carlo noise."""
        return float(self.K.std(unbiased=True) / math.sqrt(self.n)) if self.n > 1 else float("nan")

    def mc_stderr_per_example(self) -> float:
        """Median over examples of the Monte Carlo standard error of each example's bound."""
        return float(self.K_mc_var.clamp(min=0).sqrt().median())


def step_selection(T: int, t_samples: int, n: int, generator: torch.Generator | None, device: torch.device,
                   proposal: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Steps and weights for n examples: (t, w), each (n, S), with sum_s w ell_{t_s} unbiased for sum_t ell_t.

    t_samples = 0 (or >= T - 1) selects every step. Otherwise the decoder step t = 1 always, plus
    M = t_samples steps from 2..T by stratified importance sampling: u_k uniform in [k/M, (k+1)/M),
    t_k = F^{-1}(u_k) for the proposal's CDF F, weight 1 / (M q(t_k)). Each stratum of u covers
    probability 1/M, so the sum is unbiased for any proposal q > 0 (uniform if none is given).
    """
    if t_samples <= 0 or t_samples >= T - 1:
        t = torch.arange(1, T + 1, device=device).expand(n, T)
        return t, torch.ones(n, T, dtype=torch.float64, device=device)
    q = torch.full((T - 1,), 1.0 / (T - 1), dtype=torch.float64, device=device) if proposal is None else proposal.to(device)
    q = q / q.sum()
    cdf = torch.cumsum(q, 0)
    u = (torch.arange(t_samples, device=device) + torch.rand(n, t_samples, generator=generator, device=device, dtype=torch.float64)) / t_samples
    idx = torch.searchsorted(cdf, u, right=True).clamp(max=T - 2)
    t = torch.cat([torch.ones(n, 1, dtype=torch.long, device=device), idx + 2], dim=1)
    w = torch.cat([torch.ones(n, 1, dtype=torch.float64, device=device), 1.0 / (t_samples * q[idx])], dim=1)
    return t, w


@torch.no_grad()
def _minus_K_draws(model: DiffusionModel, x0: Tensor, t_samples: int, pair: bool, generator, rows: int,
                   uniform_steps: bool) -> tuple[Tensor, Tensor]:
    """(-K, ell_1) per example in nats, shapes (D, n), for D = 1 draw or D = 2 (an antithetic pair,
    sharing steps and mirrored noise)."""
    process = model.process
    table = process.table()
    n = x0.shape[0]
    proposal = None if uniform_steps else model.steps.probabilities(TSampling.IMPORTANCE)[1:]  # over t = 2..T
    t, w = step_selection(model.T, t_samples, n, generator, x0.device, proposal)
    S = t.shape[1]
    flat_t = t.reshape(-1)
    draws = 2 if pair else 1
    total = torch.zeros(draws, n * S, dtype=torch.float64, device=x0.device)
    for start in range(0, n * S, rows):
        sel = slice(start, min(start + rows, n * S))
        x_rep = x0[torch.div(torch.arange(sel.start, sel.stop, device=x0.device), S, rounding_mode="floor")]
        noise = process.noise_like(x_rep, generator)
        total[0, sel] = model.terms(x_rep, flat_t[sel], noise, table)
        if pair:
            total[1, sel] = model.terms(x_rep, flat_t[sel], process.antithetic(noise), table)
    ell = total.reshape(draws, n, S)
    minus_K = (ell * w).sum(dim=2) + process.prior_term(x0, table)
    return minus_K, ell[:, :, 0]  # column 0 is t = 1 in both selections


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
    """Unbiased per-example estimates of K for normalized data ``x0`` (float64, (N, *shape)).

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
        draws = [_minus_K_draws(model, xb, t_samples, pair, generator, rows, uniform_steps) for _ in range(units)]
        minus_K = torch.stack([d[0].mean(0) for d in draws])  # (units, b)
        ell_1 = torch.stack([d[1].mean(0) for d in draws])
        # eq. 14: the decoder and prior terms replaced by the entropies at the edges
        eq14 = -(minus_K - ell_1 - process.prior_term(xb, table)) + process.eq14_offset(xb, table)
        K_all.append(-minus_K.mean(0))
        nan = torch.full_like(minus_K[0], float("nan"))
        var_all.append(minus_K.var(0, unbiased=True) / units if units > 1 else nan)
        eq14_all.append(eq14.mean(0))
    return BoundEstimate(
        K=torch.cat(K_all) * BITS_PER_NAT,
        K_mc_var=torch.cat(var_all) * BITS_PER_NAT**2,
        K_eq14=torch.cat(eq14_all) * BITS_PER_NAT,
        log_null=process.log_null(x0) * BITS_PER_NAT,
        trajectories=trajectories,
        estimator="full" if t_samples <= 0 or t_samples >= model.T - 1 else f"stratified-importance({t_samples})",
    )
