"""The probability-flow ODE: its solver, its log-density against exact Gaussian densities (the optimal
kernel's score is exact), Hutchinson's estimator against the exact divergence, and its refusal for
processes that have no such ODE."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from helpers import CorrelatedGaussianOracle, EnumerationOracle, GaussianOracle
from thermodiff import ConfigError
from thermodiff.equations.ode import integrate
from thermodiff.evaluation.flow import lagrange_steps, ode_log_density
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process

STD = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]], dtype=torch.float64)


def test_the_solver_follows_a_known_solution_row_by_row():
    """dy/du = -u y: y(u) = y0 exp(-(u^2 - u0^2)/2). Each row keeps its own step, so a row's solution
    is the same alone as in a batch."""
    y0 = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]], dtype=torch.float64)
    solution = integrate(lambda u, y, rows: -u[:, None] * y, y0, 0.5, 3.0, 1e-8, 1e-8)
    assert float((solution.y - y0 * math.exp(-(9.0 - 0.25) / 2)).abs().max()) < 1e-7
    alone = integrate(lambda u, y, rows: -u[:, None] * y, y0[1:2], 0.5, 3.0, 1e-8, 1e-8)
    assert torch.equal(alone.y[0], solution.y[1])
    loose = integrate(lambda u, y, rows: -u[:, None] * y, y0, 0.5, 3.0, 1e-4, 1e-4)
    assert bool((loose.evaluations < solution.evaluations).all())


def test_lagrange_weights_reproduce_cubics_between_uneven_steps():
    nodes = torch.tensor([0.0, -3.0, -2.5, -1.0, 0.2, 0.9, 2.0, float("inf")], dtype=torch.float64)
    v = torch.tensor([-3.0, -2.7, 0.5, 1.9, 2.0], dtype=torch.float64)
    steps, weights = lagrange_steps(v, nodes)
    assert bool((steps >= 1).all()) and bool((steps <= 6).all())
    for g in (lambda s: s**3 - 2 * s, lambda s: torch.ones_like(s)):
        assert torch.allclose((weights * g(nodes[steps])).sum(1), g(v), atol=1e-12)


def oracle(network, T=200):
    process = make_process(DiffusionConfig(T=T, schedule="logsnr", beta_1=1e-4))
    return DiffusionModel(process, network(process))


def test_the_ode_log_density_with_the_optimal_kernel_is_the_exact_gaussian_log_density():
    """Zero-mean data N(0, diag s^2): the optimal kernel's x0_hat is E[x_0 | x_t] exactly. The flow of
    Gaussian marginals is the linear map x_v = (sd_v / sd_1) x_1 per dimension, so the ODE's model has
    log p(x) = log N(x sd_T / sd_1; 0, 1) + log(sd_T / sd_1) exactly; that is log N(x; 0, s^2) up to the
    alpha_bar_T = 1e-4 of signal left at T and the beta_1 = 1e-4 of noise at the start."""
    zero = torch.zeros(3, dtype=torch.float64)
    model = oracle(lambda process: GaussianOracle(process, zero, STD), T=50)  # linear interpolation: 0.013 bits off
    x = STD * torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    flow = ode_log_density(model, x, seed=0, tolerance=1e-5, exact_dims=16)
    abar = model.process.table().alpha_bar
    sd_1, sd_T = (abar[1] * STD**2 + 1 - abar[1]).sqrt(), (abar[-1] * STD**2 + 1 - abar[-1]).sqrt()
    exact = (Normal(0.0, 1.0).log_prob(x * sd_T / sd_1) + torch.log(sd_T / sd_1)).sum(1) / math.log(2)
    assert flow.divergence == "exact"
    assert float((flow.log_p - exact).abs().max()) < 1e-3, float((flow.log_p - exact).abs().max())
    data = Normal(zero, STD).log_prob(x).sum(1) / math.log(2)
    assert float((flow.log_p - data).abs().max()) < 5e-3 and abs(float((flow.log_p - data).mean())) < 1e-3
    assert float(flow.evaluations.double().mean()) < 400  # the log-SNR clock keeps the field smooth


def test_hutchinsons_estimate_is_unbiased_for_correlated_data():
    """Correlated data N(0, C): the oracle's x0_hat is exact, so the exact divergence gives the exact
    density; Hutchinson's probes (a full Jacobian, so each example's estimate is noisy) agree on average."""
    model = oracle(lambda process: CorrelatedGaussianOracle(process, COV), T=100)
    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) @ torch.linalg.cholesky(COV).T
    # the flow of the marginals N(0, S_v), S_v = abar_v C + (1 - abar_v) I, is x_v = (S_v S_1^-1)^(1/2) x_1
    lam, U = torch.linalg.eigh(COV)
    abar = model.process.table().alpha_bar
    scale = ((abar[-1] * lam + 1 - abar[-1]) / (abar[1] * lam + 1 - abar[1])).sqrt()
    end = (x @ U) * scale
    truth = (Normal(0.0, 1.0).log_prob(end).sum(1) + torch.log(scale).sum()) / math.log(2)
    exact = ode_log_density(model, x, seed=0, tolerance=1e-5, exact_dims=16)
    assert float((exact.log_p - truth).abs().max()) < 1e-3, float((exact.log_p - truth).abs().max())
    data = MultivariateNormal(torch.zeros(3, dtype=torch.float64), COV).log_prob(x) / math.log(2)
    assert abs(float((exact.log_p - data).mean())) < 2e-3
    noisy = ode_log_density(model, x, seed=0, tolerance=1e-5, exact_dims=0)
    assert noisy.divergence == "hutchinson"
    diff = noisy.log_p - exact.log_p
    assert float(diff.abs().max()) > 1e-3  # the probes do add noise
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / math.sqrt(diff.numel())
    again = ode_log_density(model, x[10:20], seed=0, tolerance=1e-5, exact_dims=0, first_index=10)
    assert torch.allclose(again.log_p, noisy.log_p[10:20], rtol=0, atol=1e-9)  # probes follow the example


def test_binomial_diffusion_has_no_ode_and_says_so():
    process = make_process(DiffusionConfig(process="binomial", T=10, schedule="paper", beta_1=0.1, pi=0.3))
    model = DiffusionModel(process, EnumerationOracle(process, np.array([[0.0, 1.0]]), 0.3))
    with pytest.raises(ConfigError, match="Gaussian diffusion only"):
        ode_log_density(model, torch.zeros(2, 2, dtype=torch.float64), seed=0, tolerance=1e-5, exact_dims=16)
