"""Binomial diffusion on binary data: pure tensor functions (Sohl-Dickstein et al. 2015, Table App.1).

Forward kernel q(x_t = 1 | x_{t-1}) = x_{t-1} (1 - beta_t) + pi beta_t: each step keeps a bit
with probability 1 - beta_t and otherwise redraws it from Bernoulli(pi). Everything is computed
with log-probabilities (never log 0), per element, in nats; coefficients arrive gathered at t
and broadcastable against x.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import logsigmoid

from ..schedule import ScheduleTable
from .shapes import at


def q_step_rate(x_prev: Tensor | float, beta_t: Tensor, pi: float) -> Tensor:
    """q(x_t = 1 | x_{t-1}) = x_{t-1} (1 - beta_t) + pi beta_t."""
    return x_prev * (1.0 - beta_t) + pi * beta_t


def q_marginal_rate(x0: Tensor | float, alpha_bar_t: Tensor, pi: float) -> Tensor:
    """q(x_t = 1 | x_0) = x_0 alpha_bar_t + pi (1 - alpha_bar_t): the bit survives every step, or was redrawn."""
    return x0 * alpha_bar_t + pi * (1.0 - alpha_bar_t)


def log_rates(rate: Tensor) -> tuple[Tensor, Tensor]:
    """(log r, log(1 - r)), clamped away from log 0."""
    tiny = torch.finfo(rate.dtype).tiny
    return torch.log(rate.clamp(min=tiny)), torch.log((1.0 - rate).clamp(min=tiny))


def log_likelihood_of_xt(xt: Tensor, beta_t: Tensor, pi: float) -> tuple[Tensor, Tensor]:
    """(log q(x_t | x_{t-1} = 1), log q(x_t | x_{t-1} = 0)) for the observed bits x_t."""
    # the four log-rates depend on the step only: computed once per example, then broadcast over bits
    stay1, flip1 = log_rates(q_step_rate(1.0, beta_t, pi))
    stay0, flip0 = log_rates(q_step_rate(0.0, beta_t, pi))
    # for x_{t-1} = 1 the kernel emits 1 with rate (1 - beta) + pi beta; for x_{t-1} = 0 with pi beta
    return xt * stay1 + (1 - xt) * flip1, xt * stay0 + (1 - xt) * flip0


def q_posterior_logit(x0: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable, pi: float) -> Tensor:
    """logit q(x_{t-1} = 1 | x_t, x_0), by Bayes' rule: q(x_t | x_{t-1}) q(x_{t-1} | x_0), t >= 2."""
    like1, like0 = log_likelihood_of_xt(xt, at(table.beta, t, xt), pi)
    prior1, prior0 = log_rates(q_marginal_rate(x0, at(table.alpha_bar, t - 1, xt), pi))
    return (like1 + prior1) - (like0 + prior0)


def mixture_logit(logit_a: Tensor, logit_b: Tensor, logit_w: Tensor) -> Tensor:
    """logit of w a + (1 - w) b for probabilities given as logits (the reverse rate
    p(x_{t-1}=1|x_t) = sum_{x_0} q(x_{t-1}=1|x_t,x_0) p(x_0|x_t), with w = p(x_0=1|x_t))."""
    log_one = torch.logaddexp(logsigmoid(logit_w) + logsigmoid(logit_a), logsigmoid(-logit_w) + logsigmoid(logit_b))
    log_zero = torch.logaddexp(logsigmoid(logit_w) + logsigmoid(-logit_a), logsigmoid(-logit_w) + logsigmoid(-logit_b))
    return log_one - log_zero


def bernoulli_kl(logit_q: Tensor, logit_p: Tensor) -> Tensor:
    """KL(Bernoulli(sigmoid logit_q) || Bernoulli(sigmoid logit_p)) per element, in nats."""
    q1 = torch.sigmoid(logit_q)
    return q1 * (logsigmoid(logit_q) - logsigmoid(logit_p)) + (1 - q1) * (logsigmoid(-logit_q) - logsigmoid(-logit_p))


def bernoulli_log_prob(x: Tensor, logit: Tensor) -> Tensor:
    """log Bernoulli(x; sigmoid(logit)) per element, in nats."""
    return x * logsigmoid(logit) + (1 - x) * logsigmoid(-logit)


def binary_entropy(rate: Tensor) -> Tensor:
    """H(Bernoulli(rate)) in nats."""
    log1, log0 = log_rates(rate)
    return -(rate * log1 + (1 - rate) * log0)


def entropy_bounds(table: ScheduleTable, pi: float, mean_rate: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 24's bounds on H_q(X_{t-1} | X_t) per element, t = 1..T, in nats, for units whose data
    mean rate is ``mean_rate`` (a scalar tensor; the marginal rate at step t is then
    rho_t = m alpha_bar_t + pi (1 - alpha_bar_t)).

    upper: H_q(X_t | X_{t-1});  lower: H_q(X_t|X_{t-1}) + H_q(X_{t-1}|X_0) - H_q(X_t|X_0).
    """
    abar, beta = table.alpha_bar, table.beta
    m = mean_rate.to(abar.dtype)
    rho_prev = m * abar[:-1] + pi * (1 - abar[:-1])
    h_step = rho_prev * binary_entropy(1 - beta[1:] + pi * beta[1:]) + (1 - rho_prev) * binary_entropy(pi * beta[1:])

    def h_given_x0(a: Tensor) -> Tensor:
        return m * binary_entropy(a + pi * (1 - a)) + (1 - m) * binary_entropy(pi * (1 - a))

    lower = h_step + h_given_x0(abar[:-1]) - h_given_x0(abar[1:])
    return lower, h_step
