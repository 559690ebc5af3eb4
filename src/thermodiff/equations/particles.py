"""Sequential Monte Carlo, the pure parts: weights in log space, effective sample size,
resampling and the evidence estimate.

A system is M weighted particles; weights are kept as log w, shape (S, M) for S systems, in
float64 (a product of a thousand ratios under- and overflows in any other form). A particle whose
weight vanished has log w = -inf; it is never chosen again by resampling.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def effective_sample_size(log_w: Tensor) -> Tensor:
    """ESS = (sum w)^2 / sum w^2 per system (Kong 1992), between 1 and M; (S, M) -> (S,)."""
    return torch.exp(2.0 * torch.logsumexp(log_w, -1) - torch.logsumexp(2.0 * log_w, -1))


def log_mean_weight(log_w: Tensor) -> Tensor:
    """log (1/M) sum_i w_i per system: the factor an epoch between resamplings contributes to Z."""
    return torch.logsumexp(log_w, -1) - math.log(log_w.shape[-1])


def relative_variance(log_w: Tensor) -> Tensor:
    """1/ESS - 1/M: Var[log (1/M) sum w] to first order when the M particles are independent
    draws from the proposal. Between resamplings they are not quite (they share ancestors), so a
    sum of these understates the variance of log Z_hat."""
    return 1.0 / effective_sample_size(log_w) - 1.0 / log_w.shape[-1]


def systematic_counts(W: Tensor, n: Tensor | int, u: Tensor) -> Tensor:
    """Offspring counts of systematic resampling: the points (u + k)/n, k = 0..n-1, that fall in
    each particle's slice [c_{i-1}, c_i) of the cumulative weights. Each particle gets floor(n W_i)
    or ceil(n W_i) copies; a weight of 0 gets none. W: (S, M) normalized; n, u: per system."""
    n = torch.as_tensor(n, dtype=W.dtype, device=W.device).reshape(-1, 1)
    cdf = W.cumsum(-1)
    cdf = torch.cat([cdf[:, :-1], torch.ones_like(cdf[:, -1:])], dim=-1)  # exactly 1 at the end, whatever the rounding
    edges = torch.ceil(n * cdf - u.reshape(-1, 1))
    return torch.diff(edges, dim=-1, prepend=torch.zeros_like(edges[:, :1])).clamp(min=0)


def residual_counts(W: Tensor, n: int, u: Tensor) -> Tensor:
    """Offspring counts of residual resampling: floor(n W_i) copies of each particle, the
    remaining r = n - sum floor(n W_i) by systematic resampling on the residuals n W_i - floor(n W_i)."""
    kept = torch.floor(n * W)
    rest = n - kept.sum(-1)
    residual = n * W - kept
    total = residual.sum(-1, keepdim=True)
    residual = torch.where(total > 0, residual / torch.where(total > 0, total, 1.0), 0.0)
    return kept + torch.where(rest[:, None] > 0, systematic_counts(residual, rest, u), 0.0)


def ancestors(counts: Tensor, n: int) -> Tensor:
    """Offspring counts (S, M), summing to n per system, as the index of each new particle's parent (S, n)."""
    ends = counts.cumsum(-1)
    k = torch.arange(n, dtype=ends.dtype, device=ends.device).expand(ends.shape[0], n).contiguous()
    return torch.searchsorted(ends, k, right=True).clamp(max=counts.shape[-1] - 1)


def normalized_weights(log_w: Tensor) -> Tensor:
    """W_i = w_i / sum_j w_j per system, from log weights (some may be -inf, not all)."""
    return torch.softmax(log_w, dim=-1)


def log_mean_of_systems(log_z: Tensor) -> tuple[Tensor, Tensor]:
    """(log Z_hat, its standard error) from K independent estimates log Z_k (..., K): Z_hat is
    their mean (unbiased when each is), and the standard error of log Z_hat is, by the delta
    method, sd(Z_k) / (sqrt(K) Z_hat); in log space throughout."""
    K = log_z.shape[-1]
    log_mean = torch.logsumexp(log_z, -1) - math.log(K)
    ratio = torch.exp(log_z - log_mean.unsqueeze(-1))  # Z_k / Z_hat, mean 1
    sd = torch.sqrt(((ratio - 1.0) ** 2).sum(-1) / max(K - 1, 1))
    return log_mean, sd / math.sqrt(K)
