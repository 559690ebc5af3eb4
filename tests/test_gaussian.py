"""Closed forms of Gaussian diffusion against independent computations."""

import math

import torch
from torch.distributions import Normal, kl_divergence

from thermodiff.equations import gaussian as g
from thermodiff.schedule import Schedule, ScheduleKind


def _table(T=25, kind=ScheduleKind.PAPER):
    return Schedule(kind, T=T, beta_1=1e-3).table()


def test_single_steps_compose_into_the_marginal():
    table = _table()
    x0 = torch.tensor([[1.5, -0.3, 0.0]], dtype=torch.float64)
    mean, var = x0.clone(), torch.zeros_like(x0)
    for t in range(1, table.T + 1):
        # x_t = sqrt(1 - beta_t) x_{t-1} + N(0, beta_t): propagate mean and variance
        step_mean, step_var = g.q_step(mean, table.beta[t])
        mean, var = step_mean, (1 - table.beta[t]) * var + step_var
        m_marg, v_marg = g.q_marginal(x0, table.alpha_bar[t])
        assert torch.allclose(mean, m_marg, atol=1e-12) and torch.allclose(var, v_marg, atol=1e-12), t


def test_posterior_is_bayes_rule():
    """q(x_{t-1}|x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0, by conditioning."""
    table = _table(T=12)
    x0 = torch.tensor([0.7], dtype=torch.float64)
    for t in range(2, table.T + 1):
        a_prev, beta = table.alpha_bar[t - 1], table.beta[t]
        # joint: x_{t-1} = sqrt(a_prev) x0 + e1, x_t = sqrt(1-beta) x_{t-1} + e2
        var_prev = 1 - a_prev
        cov = torch.sqrt(1 - beta) * var_prev
        var_t = (1 - beta) * var_prev + beta
        xt = torch.tensor([-0.4], dtype=torch.float64)
        mean_t = torch.sqrt(table.alpha_bar[t]) * x0
        cond_mean = torch.sqrt(a_prev) * x0 + cov / var_t * (xt - mean_t)
        cond_var = var_prev - cov**2 / var_t
        mean, var = g.q_posterior(x0[None], xt[None], torch.tensor([t]), table)
        assert torch.allclose(mean[0], cond_mean, atol=1e-12), t
        assert torch.allclose(var[0], cond_var.expand(1), rtol=1e-9), t


def test_kl_matches_torch_distributions_and_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(5, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    lv1, lv2 = torch.randn(5, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    ours = g.normal_kl(m1, lv1, m2, lv2)
    ref = kl_divergence(Normal(m1, (0.5 * lv1).exp()), Normal(m2, (0.5 * lv2).exp()))
    assert torch.allclose(ours, ref, atol=1e-12)
    n = 400_000
    x = m1 + (0.5 * lv1).exp() * torch.randn(n, 5, generator=gen, dtype=torch.float64)
    diff = g.normal_log_prob(x, m1, lv1) - g.normal_log_prob(x, m2, lv2)
    mc, se = diff.mean(0), diff.std(0) / math.sqrt(n)
    assert bool(((mc - ours).abs() < 5 * se).all()), (mc, ours, se)


def test_entropy_and_log_prob_match_torch():
    lv = torch.tensor([-3.0, 0.0, 2.0], dtype=torch.float64)
    assert torch.allclose(g.normal_entropy(lv), Normal(0.0, (0.5 * lv).exp()).entropy(), atol=1e-12)
    x = torch.tensor([0.3, -1.0, 4.0], dtype=torch.float64)
    assert torch.allclose(g.normal_log_prob(x, 0.1, lv), Normal(0.1, (0.5 * lv).exp()).log_prob(x), atol=1e-12)


def test_entropy_bounds_are_eq_24():
    table = _table(T=30)
    lower, upper = g.entropy_bounds(table)
    omab = table.one_minus_alpha_bar
    for t in range(2, table.T + 1):
        h = lambda v: 0.5 * math.log(2 * math.pi * math.e * float(v))  # noqa: E731
        eq24_lower = h(table.beta[t]) + h(omab[t - 1]) - h(omab[t])
        assert math.isclose(float(lower[t - 1]), eq24_lower, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(float(upper[t - 1]), h(table.beta[t]), rel_tol=1e-12)
        assert float(lower[t - 1]) <= float(upper[t - 1])
