"""Reverse-kernel parameterizations against their defining formulas."""

import torch

from thermodiff.equations.gaussian import q_posterior
from thermodiff.equations.reverse import Parameterization, reverse_gaussian
from thermodiff.schedule import Schedule, ScheduleKind

TABLE = Schedule(ScheduleKind.PAPER, T=20, beta_1=1e-3).table()


def _inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    z_mu = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    z_sigma = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 5, 10, 19, 20])
    return x, z_mu, z_sigma, t


def test_paper_parameterization_is_eqs_64_65():
    x, z_mu, z_sigma, t = _inputs()
    k = reverse_gaussian(Parameterization.PAPER, z_mu, z_sigma, x, t, TABLE)
    beta = TABLE.beta[t][:, None].clamp(max=1 - 1e-5)
    sigma = torch.sigmoid(z_sigma + torch.log(beta / (1 - beta)))
    assert torch.allclose(k.log_var.exp()[:-1], sigma[:-1], rtol=1e-9)
    assert torch.allclose(k.mean[:-1], ((x - z_mu) * (1 - sigma) + z_mu)[:-1], atol=1e-12)


def test_posterior_parameterization_uses_the_exact_posterior_mean():
    x, z_mu, z_sigma, t = _inputs(1)
    k = reverse_gaussian(Parameterization.POSTERIOR, z_mu, z_sigma, x, t, TABLE)
    abar = TABLE.alpha_bar[t][:, None]
    x0_hat = abar.sqrt() * x + (1 - abar).sqrt() * z_mu
    assert torch.allclose(k.x0_hat, x0_hat, atol=1e-12)
    mean, _ = q_posterior(x0_hat, x, t, TABLE)
    assert torch.allclose(k.mean[1:], mean[1:], atol=1e-12)
    assert torch.allclose(k.mean[0], x0_hat[0], atol=1e-12)  # the decoder's mean is x0_hat


def test_zero_outputs_give_a_variance_between_beta_tilde_and_beta():
    x, _, _, t = _inputs(2)
    zero = torch.zeros_like(x)
    k = reverse_gaussian(Parameterization.POSTERIOR, zero, zero, x, t, TABLE)
    var = k.log_var.exp()[:, 0]
    lo, hi = TABLE.beta_tilde[t], TABLE.beta[t]
    assert bool(((var[1:] >= lo[1:] * (1 - 1e-12)) & (var[1:] <= hi[1:] * (1 + 1e-12))).all())
    assert torch.allclose(var[1:], (lo[1:] * hi[1:]).sqrt(), rtol=1e-9)  # the geometric middle
    assert torch.allclose(var[0], TABLE.beta[1])  # the decoder starts at beta_1
