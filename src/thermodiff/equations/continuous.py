"""Continuous-time Gaussian diffusion in terms of gamma = -log SNR (Kingma et al. 2021).

q(z_t | x) = N(alpha_t x, sigma_t^2 I), alpha_t^2 = sigmoid(-gamma_t), sigma_t^2 = sigmoid(gamma_t).
The bound, per example (nats):

    -K = E[-log p(x | z_0)] + L_infinity + KL(q(z_1 | x) || N(0, I)),
    L_infinity = E_{t ~ U(0,1), eps}[ -SNR'(t)/2 ||x - x_hat(z_t, t)||^2 ]
               = E[ gamma'(t) exp(-gamma_t) ||x - x_hat||^2 / 2 ],

and with N steps of the same schedule (s = t - 1/N), each step's KL between the posterior
q(z_s | z_t, x) and the model's q(z_s | z_t, x = x_hat) gives
    L_N = N/2 E_{t on the grid}[ (SNR(s) - SNR(t)) ||x - x_hat||^2 ] >= L_infinity.
The decoder p(x | z_0) = N(x; z_0 / alpha_0, sigma_0^2 / alpha_0^2) costs exactly
D/2 (log 2 pi + gamma_0 + 1) in expectation: z_0 / alpha_0 - x = e^(gamma_0 / 2) eps.
Functions take gamma (and its slope) gathered per example and broadcastable against x.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .shapes import sum_per_example

LOG_2PI = math.log(2.0 * math.pi)


def alpha_sigma(gamma: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha, sigma) = (sqrt(sigmoid(-gamma)), sqrt(sigmoid(gamma)))."""
    return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()


def q_sample(x: Tensor, gamma: Tensor, eps: Tensor) -> Tensor:
    """z_t = alpha_t x + sigma_t eps."""
    alpha, sigma = alpha_sigma(gamma)
    return alpha * x + sigma * eps


def x_prediction(z: Tensor, gamma: Tensor, out: Tensor) -> Tensor:
    """x_hat = alpha_t z_t + sigma_t out: a skip path (out = 0 is the best linear guess for
    unit-variance data) plus the network's output at unit scale for every noise level."""
    alpha, sigma = alpha_sigma(gamma)
    return alpha * z + sigma * out


def diffusion_loss(x: Tensor, x_hat: Tensor, gamma: Tensor, slope: Tensor) -> Tensor:
    """L_infinity's integrand per example: gamma'(t) exp(-gamma_t) ||x - x_hat||^2 / 2 = -SNR'(t)/2 ||x - x_hat||^2."""
    return 0.5 * slope * torch.exp(-gamma) * sum_per_example((x - x_hat) ** 2)


def step_loss(x: Tensor, x_hat: Tensor, gamma_s: Tensor, gamma_t: Tensor) -> Tensor:
    """One discrete step's KL per example: (SNR(s) - SNR(t)) ||x - x_hat||^2 / 2, in the form
    -exp(-gamma_s) expm1(gamma_s - gamma_t) / 2 that keeps its precision for close s and t."""
    return -0.5 * torch.exp(-gamma_s) * torch.expm1(gamma_s - gamma_t) * sum_per_example((x - x_hat) ** 2)


def expected_step_kl(gamma_s: Tensor, gamma_t: Tensor, mse: Tensor, dims: int) -> Tensor:
    """A step's expected KL (nats) when the model's variance is the analytic one (equations/reverse.py,
    ``analytic_log_var``): D/2 log(1 + (SNR(s) - SNR(t)) e_t), with e_t the mean squared error per
    dimension of x_hat at t. For small steps it is step_loss's expectation; for large ones less."""
    return 0.5 * dims * torch.log1p(-torch.exp(-gamma_s) * torch.expm1(gamma_s - gamma_t) * mse)


def best_grid(gamma: Tensor, mse: Tensor, steps: int) -> Tensor:
    """Indices 0 = i_0 < ... < i_N = K (N = ``steps`` <= K) into K + 1 candidate times, gamma
    increasing, whose N-step chain has the smallest sum of expected step KLs (``expected_step_kl``
    at the candidates' errors ``mse``). The sum decomposes over steps, so dynamic programming over
    the candidates finds the exact optimum (Watson et al. 2021 do the same for a trained DDPM)."""
    K = gamma.numel() - 1
    order = torch.arange(K + 1, device=gamma.device)
    cost = expected_step_kl(gamma[:, None], gamma[None, :], mse[None, :], 1)  # [i, j]: from candidate j down to i
    cost = torch.where(order[:, None] < order[None, :], cost, torch.full_like(cost, math.inf))
    best = torch.full((K + 1,), math.inf, dtype=cost.dtype, device=cost.device)
    best[0] = 0.0
    came_from = []
    for _ in range(steps):
        best, arg = (best[:, None] + cost).min(0)
        came_from.append(arg)
    path = [K]
    for arg in reversed(came_from):
        path.append(int(arg[path[-1]]))
    return torch.tensor(path[::-1], device=gamma.device)


def decoder_nll(gamma_0: Tensor, dims: int) -> Tensor:
    """E_q[-log N(x; z_0 / alpha_0, sigma_0^2 / alpha_0^2)] = D/2 (log 2 pi + gamma_0 + 1), exactly."""
    return 0.5 * dims * (LOG_2PI + gamma_0 + 1.0)


def prior_kl(x: Tensor, gamma_1: Tensor) -> Tensor:
    """KL(N(alpha_1 x, sigma_1^2 I) || N(0, I)) per example: 1/2 sum(sigma^2 + alpha^2 x^2 - 1 - log sigma^2)."""
    alpha2, sigma2 = torch.sigmoid(-gamma_1), torch.sigmoid(gamma_1)
    per_dim = 0.5 * (alpha2 * x * x - alpha2 - torch.log(sigma2))  # sigma^2 - 1 = -alpha^2
    return sum_per_example(per_dim)


def slide_weight(beta: float, t: Tensor) -> Tensor:
    """The talk's weight for alpha_t = exp(-beta t / 2): beta csch^2(beta t / 2) / 8 (= -SNR'(t)/2)."""
    return beta / (8.0 * torch.sinh(beta * t / 2) ** 2)
