"""Sequential Monte Carlo, the pure parts: weights in log space, effective sample size,
resampling, the evidence estimate, and the spread of x_0 | x_t that the twists carry evidence back with.

A system is M weighted particles; weights are kept as log w, shape (S, M) for S systems, in
float64 (a product of a thousand ratios under- and overflows in any other form). A particle whose
weight vanished has log w = -inf; it is never chosen again by resampling.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .products import tweedie_covariance


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


# -- the twists' Cov[x_0 | x_t] ------------------------------------------------------------------
# A twist r_s may be wrong, but it must not vanish where the posterior lives: a particle whose twist
# is (nearly) 0 is dropped at the next resampling, and the mass it stood for never comes back, so
# log Z falls short by an amount that more particles do not shrink. A trained network's Cov[x_0|x_t]
# can do that: a Jacobian off by 0.1 gives Tweedie's covariance eigenvalues near or below 0 at
# gains 5 to 10 (4-D mixture), and evidence carried back with them is a near-delta (log r_s ~ -1e12).

# Above this gain (1 - abar) / sqrt(abar), Tweedie's covariance magnifies the error of a trained
# network's Jacobian past the unit scale of normalized data (measured on a 4-D mixture: eigenvalues
# from -25 to 15 at t = T, where the truth is about 1; the gain there is 316).
MAX_TWEEDIE_GAIN = 10.0

# Cov[x_0 | x_t] is never let below this fraction of the reference (1 - abar_t) I. A wider twist
# costs only weight variance; a narrower one kills. On normalized data (unit variance in every
# direction), only structure narrower than half a standard deviation puts the truth below it, and
# as t -> 0, Cov[x_0 | x_t] -> (1 - abar_t) I for any smooth density.
MIN_X0_VARIANCE = 0.25


def steady_x0_covariance(jacobian: Tensor, alpha_bar: Tensor, max_gain: float = MAX_TWEEDIE_GAIN) -> Tensor:
    """Cov[x_0 | x_t] that stays a covariance at every noise level: Tweedie's (``tweedie_covariance``)
    while its gain (1 - abar_t) / sqrt(abar_t) on the Jacobian is at most ``max_gain``, no eigenvalue
    below MIN_X0_VARIANCE (1 - abar_t) (``floored_x0_covariance``); above that gain, where x_t says
    little of x_0, (1 - abar_t) I, the exact value for normalized data's reference N(0, I).
    alpha_bar: a scalar (one step for the batch)."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=jacobian.dtype, device=jacobian.device)
    if float((1.0 - alpha_bar) / alpha_bar.sqrt()) <= max_gain:
        return floored_x0_covariance(tweedie_covariance(jacobian, alpha_bar), alpha_bar)
    eye = torch.eye(jacobian.shape[-1], dtype=jacobian.dtype, device=jacobian.device)
    return ((1.0 - alpha_bar) * eye).expand_as(jacobian)


def floored_x0_covariance(cov: Tensor, alpha_bar: Tensor, fraction: float = MIN_X0_VARIANCE) -> Tensor:
    """Cov[x_0 | x_t] (B, D, D), symmetric, with every eigenvalue raised to at least fraction (1 - abar_t);
    left exactly as it was where none is below. alpha_bar: a scalar."""
    least = fraction * (1.0 - alpha_bar)
    lam, U = torch.linalg.eigh(cov)
    raised = (U * lam.clamp(min=least).unsqueeze(-2)) @ U.transpose(-1, -2)
    return torch.where((lam < least).any(-1)[:, None, None], raised, cov)


def floored_x0_variance(var: Tensor, alpha_bar: Tensor, fraction: float = MIN_X0_VARIANCE) -> Tensor:
    """``floored_x0_covariance`` coordinate by coordinate: Var[x_0,i | x_t] at least fraction (1 - abar_t)."""
    return var.clamp(min=float(fraction * (1.0 - alpha_bar)))
