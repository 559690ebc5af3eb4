"""Reverse kernels p(x_{t-1} | x_t) = N(mu, diag Sigma): how network outputs become (mu, Sigma).

The network gives two numbers per data dimension, z_mu and z_Sigma. Both mean and
covariance are learned; the parameterizations differ in what the network has to output.

- ``paper`` (Sohl-Dickstein et al. 2015, App. D, eqs. 64-65):
  Sigma = sigmoid(z_Sigma + logit(beta_t)),  mu = (x_t - z_mu)(1 - Sigma) + z_mu.
- ``posterior``: the network predicts the data, x0_hat = sqrt(alpha_bar_t) x_t +
  sqrt(1 - alpha_bar_t) z_mu (a skip path: z_mu = 0 is the best linear guess for unit-variance
  data, and z_mu has unit scale at every t), and the mean is that of the exact Gaussian
  posterior, mu = mu_tilde(x_t, x0_hat). The log-variance is interpolated between log
  beta_tilde_t and log beta_t with an unconstrained weight v = 1/2 + z_Sigma (the true reverse
  variance lies between them for small steps; Nichol & Dhariwal 2021 use the same form).
  At t = 1 beta_tilde_1 = 0, so the decoder p(x_0 | x_1) has log Sigma = log beta_1 + z_Sigma.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor

from ..errors import ConfigError
from ..schedule import ScheduleTable
from .gaussian import q_posterior_mean
from .shapes import at

# logit(beta_t) is infinite at beta_T = 1 (the paper's schedule); clamp it to a finite range.
_LOGIT_CLAMP = 12.0


class Parameterization(str, Enum):
    PAPER = "paper"
    POSTERIOR = "posterior"
    FIXED = "fixed"


@dataclass(frozen=True)
class ReverseGaussian:
    """p(x_{t-1} | x_t) = N(mean, diag exp(log_var)); float64, shapes (B, *shape)."""

    mean: Tensor
    log_var: Tensor
    x0_hat: Tensor | None = None  # the data prediction, where the parameterization has one


def paper_reverse(z_mu: Tensor, z_sigma: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> ReverseGaussian:
    """Eqs. 64-65: Sigma = sigmoid(z_Sigma + logit beta_t), mu = (x_t - z_mu)(1 - Sigma) + z_mu."""
    beta = at(table.beta, t, xt)
    logit_beta = (torch.log(beta) - torch.log1p(-beta)).clamp(-_LOGIT_CLAMP, _LOGIT_CLAMP)
    a = z_sigma + logit_beta
    sigma = torch.sigmoid(a)
    mean = (xt - z_mu) * (1.0 - sigma) + z_mu
    return ReverseGaussian(mean=mean, log_var=torch.nn.functional.logsigmoid(a))


def _sqrt_alpha_bars(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    return table.alpha_bar.sqrt(), table.one_minus_alpha_bar.sqrt()


def x0_prediction(z_mu: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
    """x0_hat = sqrt(alpha_bar_t) x_t + sqrt(1 - alpha_bar_t) z_mu (skip path plus scaled output)."""
    sqrt_abar, sqrt_omab = table.memo("sqrt_alpha_bars", _sqrt_alpha_bars)
    return at(sqrt_abar, t, xt) * xt + at(sqrt_omab, t, xt) * z_mu


def reverse_log_var_range(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """(log lower, log upper) per t for the interpolated variance; t = 1 gets log beta_1 -/+ 1/2."""
    return table.memo("reverse_log_var_range", _log_var_range)


def _log_var_range(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    log_beta = torch.log(table.beta)
    lo = torch.log(table.beta_tilde.clamp(min=torch.finfo(table.beta.dtype).tiny))
    lo = torch.cat([lo[:1], log_beta[1:2] - 0.5, lo[2:]])
    hi = torch.cat([log_beta[:1], log_beta[1:2] + 0.5, log_beta[2:]])
    return lo, hi


def _log_var_lo_width(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    lo, hi = reverse_log_var_range(table)
    return lo, hi - lo


def posterior_reverse(z_mu: Tensor, z_sigma: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> ReverseGaussian:
    """mu = mu_tilde(x_t, x0_hat); log Sigma = lo + (1/2 + z_Sigma)(hi - lo)."""
    x0_hat = x0_prediction(z_mu, xt, t, table)
    # at t = 1, c_x0 = 1 and c_xt = 0: the decoder's mean is x0_hat itself
    mean = q_posterior_mean(x0_hat, xt, t, table)
    lo, width = table.memo("reverse_log_var_lo_width", _log_var_lo_width)
    log_var = at(lo, t, xt) + (0.5 + z_sigma) * at(width, t, xt)
    return ReverseGaussian(mean=mean, log_var=log_var, x0_hat=x0_hat)


def _fixed_log_var(table: ScheduleTable) -> Tensor:
    """log beta_tilde_t for t >= 2; at t = 1 the decoder's log((1 - alpha_bar_1) / alpha_bar_1)."""
    decoder = torch.log(table.one_minus_alpha_bar[1:2]) - table.log_alpha_bar[1:2]
    return torch.cat([decoder, decoder, torch.log(table.beta_tilde[2:])])


def analytic_log_var(table: ScheduleTable, x0_mse: Tensor) -> Tensor:
    """log(beta_tilde_t + c_x0_t^2 e_t) for t >= 2, with e_t the mean squared error per dimension of
    x0_hat at step t ((T + 1,), entries 0 and 1 unused); at t = 1 the fixed decoder's.

    The Gaussian with the posterior's mean around x0_hat that is closest in expected KL to
    q(x_{t-1} | x_t, x_0) has this variance (Bao et al. 2022, Analytic-DPM): the posterior's own
    plus the spread that the error of x0_hat puts into the posterior mean. Its step KL is then
    D/2 log(1 + c_x0^2 e_t / beta_tilde_t) <= c_x0^2 e_t D / (2 beta_tilde_t), the fixed choice's."""
    fixed = table.memo("fixed_log_var", _fixed_log_var)
    analytic = torch.log(table.beta_tilde[2:] + table.c_x0[2:] ** 2 * x0_mse[2:].to(fixed))
    return torch.cat([fixed[:2], analytic])


def fixed_reverse(z_mu: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable, log_var: Tensor | None = None) -> ReverseGaussian:
    """q(x_{t-1} | x_t, x_0 = x0_hat) itself: the posterior mean and the posterior's own variance
    beta_tilde_t (Ho et al. 2020's fixed choice), or per step ``log_var`` ((T + 1,), e.g.
    ``analytic_log_var``). At t = 1 the decoder N(x_1 / sqrt(alpha_bar_1), (1 - alpha_bar_1) /
    alpha_bar_1) needs no network: a continuous-time model's chain on a grid
    (processes/continuous.py) is exactly this."""
    sqrt_abar, _ = table.memo("sqrt_alpha_bars", _sqrt_alpha_bars)
    decoder = (t == 1).reshape(-1, *([1] * (xt.dim() - 1)))
    x0_hat = torch.where(decoder, xt / sqrt_abar[1], x0_prediction(z_mu, xt, t, table))
    mean = q_posterior_mean(x0_hat, xt, t, table)
    log_var = table.memo("fixed_log_var", _fixed_log_var) if log_var is None else log_var
    return ReverseGaussian(mean=mean, log_var=at(log_var, t, xt).expand_as(xt), x0_hat=x0_hat)


def reverse_gaussian(
    kind: Parameterization, z_mu: Tensor, z_sigma: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable,
    fixed_log_var: Tensor | None = None,
) -> ReverseGaussian:
    """Dispatch on the parameterization (an enum, validated where configuration enters);
    ``fixed_log_var``: the fixed kernel's per-step log-variance, if not the posterior's."""
    if kind is Parameterization.PAPER:
        return paper_reverse(z_mu, z_sigma, xt, t, table)
    if kind is Parameterization.POSTERIOR:
        return posterior_reverse(z_mu, z_sigma, xt, t, table)
    if kind is Parameterization.FIXED:
        return fixed_reverse(z_mu, xt, t, table, fixed_log_var)
    raise ConfigError(f"unknown parameterization {kind!r}; choose one of {[p.value for p in Parameterization]}")


def predicted_x0(kernel: ReverseGaussian, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
    """The kernel's prediction of x_0 from x_t: its own x0_hat, or, for a kernel given only by its
    mean, the x_0 that the posterior mean formula maps to that mean (at t = 1 the mean itself)."""
    if kernel.x0_hat is not None:
        return kernel.x0_hat
    c_x0, c_xt = table.c_x0, table.c_xt
    first = (t == 1).reshape(-1, *([1] * (xt.dim() - 1)))
    inverted = (kernel.mean - at(c_xt, t, xt) * xt) / at(c_x0, t, xt).clamp(min=torch.finfo(xt.dtype).tiny)
    return torch.where(first, kernel.mean, inverted)
