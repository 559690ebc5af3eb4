"""Gaussian diffusion: pure tensor functions, named after Sohl-Dickstein et al. (2015).

Variances are diagonal and given as log-variances where precision matters. Coefficients
arrive already gathered at the step t and broadcastable against x (see ``at``). Every
function follows the device and dtype of its inputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..schedule import ScheduleTable
from .shapes import at

LOG_2PI = math.log(2.0 * math.pi)


def q_step(x_prev: Tensor, beta_t: Tensor) -> tuple[Tensor, Tensor]:
    """Forward kernel q(x_t | x_{t-1}) = N(x_{t-1} sqrt(1 - beta_t), beta_t I) (eq. 2): (mean, var)."""
    return x_prev * torch.sqrt(1.0 - beta_t), beta_t.expand_as(x_prev)


def q_marginal(x0: Tensor, alpha_bar_t: Tensor) -> tuple[Tensor, Tensor]:
    """q(x_t | x_0) = N(x_0 sqrt(alpha_bar_t), (1 - alpha_bar_t) I): (mean, var)."""
    return x0 * torch.sqrt(alpha_bar_t), (1.0 - alpha_bar_t).expand_as(x0)


def q_sample(x0: Tensor, alpha_bar_t: Tensor, noise: Tensor) -> Tensor:
    """A draw from q(x_t | x_0), reparameterized by standard normal ``noise``."""
    return x0 * torch.sqrt(alpha_bar_t) + noise * torch.sqrt(1.0 - alpha_bar_t)


def posterior_coefficients(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """(c_x0, c_xt) with mu_tilde = c_x0 x_0 + c_xt x_t, indexed by t (entry 0 unused):
    c_x0 = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t), c_xt = sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
    (computed once with the schedule's table)."""
    return table.c_x0, table.c_xt


def q_posterior_mean(x0: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
    """mu_tilde(x_t, x_0) = c_x0 x_0 + c_xt x_t, the mean of q(x_{t-1} | x_t, x_0)."""
    return at(table.c_x0, t, x0) * x0 + at(table.c_xt, t, x0) * xt


def q_posterior(x0: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde I) for t >= 1: (mean, var)."""
    return q_posterior_mean(x0, xt, t, table), at(table.beta_tilde, t, x0).expand_as(x0)


def normal_kl(mean_q: Tensor, log_var_q: Tensor, mean_p: Tensor, log_var_p: Tensor) -> Tensor:
    """KL(N(mean_q, e^log_var_q) || N(mean_p, e^log_var_p)) per element, in nats."""
    return 0.5 * (
        log_var_p
        - log_var_q
        + torch.exp(log_var_q - log_var_p)
        + (mean_q - mean_p) ** 2 * torch.exp(-log_var_p)
        - 1.0
    )


def normal_log_prob(x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(x; mean, e^log_var) per element, in nats."""
    return -0.5 * (LOG_2PI + log_var + (x - mean) ** 2 * torch.exp(-log_var))


def normal_entropy(log_var: Tensor) -> Tensor:
    """Differential entropy of N(., e^log_var) per element, in nats: (1/2) log(2 pi e var)."""
    return 0.5 * (LOG_2PI + 1.0 + log_var)


def entropy_bounds(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """Bounds on H_q(X_{t-1} | X_t) per dimension, t = 1..T (eq. 24), in nats.

    H_q(X_t|X_{t-1}) + H_q(X_{t-1}|X_0) - H_q(X_t|X_0) <= H_q(X_{t-1}|X_t) <= H_q(X_t|X_{t-1});
    for Gaussian diffusion the lower side is the entropy of N(., beta_tilde_t), the upper that of
    N(., beta_t). Entry 0 of the returned (T,) tensors is step t = 1 (lower bound -inf there).
    """
    lower = normal_entropy(torch.log(table.beta_tilde[1:]))
    upper = normal_entropy(torch.log(table.beta[1:]))
    return lower, upper


def unit_gaussian_bits_per_dim() -> float:
    """-(1/2)(1 + ln 2 pi) / ln 2: L_null per dimension for unit-variance data (paper: -2.047)."""
    return -0.5 * (1.0 + LOG_2PI) / math.log(2.0)


# -- the probability-flow ODE ---------------------------------------------------------------------


def probability_flow_drift(x: Tensor, x0_hat: Tensor, logsnr: Tensor) -> Tensor:
    """The probability-flow ODE of variance-preserving diffusion (Song et al. 2021, eq. 13) in the
    clock v = -lambda, lambda = log(abar / (1 - abar)) the log signal-to-noise ratio:
        dx/dv = -(sqrt(abar) x0_hat - abar x) / 2,   abar = sigmoid(lambda).
    From dx/du = -beta(u)/2 (x + score) with Tweedie's score -(x - sqrt(abar) x0_hat)/(1 - abar)
    and dlambda/du = -beta(u)/(1 - abar). In this clock the drift is as smooth as x0_hat, whatever
    the schedule (no jumps in beta between steps); ``logsnr`` is gathered per example."""
    abar = torch.sigmoid(logsnr)
    return -0.5 * (torch.sqrt(abar) * x0_hat - abar * x)
