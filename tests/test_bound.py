"""The bound: exact with the optimal kernel, never above the truth, estimators unbiased."""

import math

import pytest
import torch
from torch.distributions import Normal

from helpers import GaussianOracle
from thermodiff.evaluation.estimate import estimate_bound
from thermodiff.variance import step_selection
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process

MEAN = torch.tensor([0.3, -1.0, 0.0], dtype=torch.float64)
STD = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64)


def oracle_model(T=40, schedule="paper", beta_1=1e-3):
    process = make_process(DiffusionConfig(T=T, schedule=schedule, beta_1=beta_1))
    return DiffusionModel(process, GaussianOracle(process, MEAN, STD))


def data(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return MEAN + STD * torch.randn(n, 3, generator=gen, dtype=torch.float64)


def true_log2(x):
    return Normal(MEAN, STD).log_prob(x).sum(1) / math.log(2)


@pytest.mark.parametrize("schedule", ["paper", "cosine", "logsnr"])
def test_optimal_kernel_makes_the_bound_exact(schedule):
    """With the exact reverse kernel, K equals log p(x_0) for every example (the gap is
    KL(q(x_{1:T}|x_0) || p(x_{1:T}|x_0)) = 0). Tolerance: 5 standard errors of the paired
    difference, which is Monte Carlo noise only."""
    model = oracle_model(schedule=schedule)
    x = data(400)
    est = estimate_bound(model, x, torch.Generator().manual_seed(1), trajectories=4, t_samples=0)
    diff = est.K - true_log2(x)
    se = float(diff.std() / math.sqrt(diff.numel()))
    assert abs(float(diff.mean())) < 5 * se + 1e-3, (float(diff.mean()), se)
    assert se < 0.02  # the control variates and antithetic pairs keep it small


def test_the_prior_term_counts_where_the_noise_does_not_erase_everything():
    """A short schedule leaves alpha_bar_T = 0.37: q(x_T | x_0) is far from p(x_T), and the prior
    term carries real weight. Unit-variance data keep q(x_T) = p(x_T) = N(0, I), so the optimal
    kernel is still exact."""
    process = make_process(DiffusionConfig(T=10, schedule="linear", beta_1=1e-3, beta_max=0.002))
    assert 0.3 < float(process.table().alpha_bar[-1]) < 0.5
    zero, one = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    model = DiffusionModel(process, GaussianOracle(process, zero, one))
    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    est = estimate_bound(model, x, torch.Generator().manual_seed(10), trajectories=4, t_samples=0)
    diff = est.K - Normal(zero, one).log_prob(x).sum(1) / math.log(2)
    se = float(diff.std() / math.sqrt(diff.numel()))
    assert float(process.prior_kl(x, process.table()).mean()) > 0.2
    assert abs(float(diff.mean())) < 5 * se + 1e-3, (float(diff.mean()), se)


def test_the_bound_stays_below_the_truth_for_a_wrong_kernel():
    """A kernel for the wrong data (mean shifted) gives a strictly lower K."""
    process = make_process(DiffusionConfig(T=40, beta_1=1e-3))
    wrong = DiffusionModel(process, GaussianOracle(process, MEAN + 0.5, STD * 1.3))
    x = data(400)
    est = estimate_bound(wrong, x, torch.Generator().manual_seed(2), trajectories=2, t_samples=0)
    diff = est.K - true_log2(x)
    se = float(diff.std() / math.sqrt(diff.numel()))
    assert float(diff.mean()) < -10 * se


def test_stratified_importance_estimator_agrees_with_the_full_sum():
    model = oracle_model(T=200)
    # skew the proposal on purpose: the estimator must stay unbiased for any proposal
    model.steps.second_moment.copy_(torch.linspace(1.0, 100.0, 200, dtype=torch.float64))
    model.steps.seen.fill_(1)
    x = data(300, seed=3)
    full = estimate_bound(model, x, torch.Generator().manual_seed(4), trajectories=2, t_samples=0)
    strat = estimate_bound(model, x, torch.Generator().manual_seed(5), trajectories=8, t_samples=20)
    diff = strat.K - full.K
    se = float(diff.std() / math.sqrt(diff.numel()))
    assert abs(float(diff.mean())) < 5 * se, (float(diff.mean()), se)


def test_uniform_steps_give_draws_that_do_not_depend_on_the_model():
    """Validation pairs scores across checkpoints: with uniform_steps the same seed gives the same
    steps and noise whatever the model's running term sizes, so identical kernels score identically."""
    fresh, skewed = oracle_model(T=200), oracle_model(T=200)
    skewed.steps.second_moment.copy_(torch.linspace(1.0, 100.0, 200, dtype=torch.float64))
    skewed.steps.seen.fill_(1)
    x = data(50, seed=3)

    def score(model, uniform):
        return estimate_bound(model, x, torch.Generator().manual_seed(7), trajectories=2, t_samples=20, uniform_steps=uniform).K

    assert torch.equal(score(fresh, True), score(skewed, True))
    assert not torch.equal(score(fresh, False), score(skewed, False))  # the proposal moves the steps drawn


def test_step_selection_weights_are_unbiased_exactly():
    """E[sum_s w_s f(t_s)] = sum_t f(t) for any f: check by enumerating the stratified draws."""
    T, M = 30, 7
    q = torch.rand(T - 1, dtype=torch.float64) + 0.1
    f = torch.rand(T + 1, dtype=torch.float64) + 1.0
    steps = step_selection(T, M, 200_000, torch.Generator().manual_seed(0), torch.device("cpu"), q)
    t, w = steps.t, steps.w
    estimate = (f[t] * w).sum(1)
    assert abs(float(estimate.mean()) - float(f[1:].sum())) < 5 * float(estimate.std()) / math.sqrt(200_000)
    assert bool((t[:, 0] == 1).all()) and bool((t >= 1).all()) and bool((t <= T).all())


def test_control_variate_feature_has_mean_zero_and_known_variance():
    process = make_process(DiffusionConfig(T=10))
    noise = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u = process.noise_feature(noise)
    assert abs(float(u.mean())) < 5 * math.sqrt(8 / 200_000)
    assert abs(float(u.var()) / process.noise_feature_variance(noise) - 1) < 0.02


def test_control_variates_leave_the_bound_unchanged_and_cut_its_noise():
    model = oracle_model(T=60)
    x = data(300, seed=6)
    with_cv = estimate_bound(model, x, torch.Generator().manual_seed(7), trajectories=3, t_samples=0)
    model.steps.cv_coefficient.zero_()
    without = estimate_bound(model, x, torch.Generator().manual_seed(8), trajectories=3, t_samples=0)
    assert float(with_cv.K_mc_var.mean()) < 0.3 * float(without.K_mc_var.mean())
    diff = with_cv.K - without.K
    assert abs(float(diff.mean())) < 5 * float(diff.std()) / math.sqrt(diff.numel())
