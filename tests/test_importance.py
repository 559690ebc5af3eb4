"""The importance-weighted bound L_k (the talk's Jarzynski equality) on models whose marginal is known
exactly: exact weights for the optimal kernel; for other kernels L_k rises with k from L_1 = K towards
log p(x_0) and never passes it beyond its noise; draws depend on the example, not on the batch."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from helpers import (EnumerationOracle, GaussianOracle, Perturbed, check_approach, enumerated_log_marginal,
                     linear_gaussian_log_marginal, paired_se)
from thermodiff.evaluation.estimate import estimate_bound
from thermodiff.evaluation.evaluate import carried_by_one, degenerate, still_rising
from thermodiff.evaluation.importance import (ImportanceEstimate, blocked_bound, effective_sample_size, nested_sizes,
                                              trajectory_log_weights)
from thermodiff.evaluation.report import describe_importance
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process

MEAN = torch.tensor([0.3, -1.0, 0.0], dtype=torch.float64)
STD = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64)
PI = 0.3
PATTERNS = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float64)


def gaussian_data(n, seed=0):
    return MEAN + STD * torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def gaussian_model(network=lambda process: GaussianOracle(process, MEAN, STD), schedule="logsnr", T=40):
    process = make_process(DiffusionConfig(T=T, schedule=schedule, beta_1=1e-3))
    return DiffusionModel(process, network(process))


def binary_model(T=10):
    process = make_process(DiffusionConfig(process="binomial", T=T, schedule="paper", beta_1=1 / T, pi=PI))
    return DiffusionModel(process, EnumerationOracle(process, PATTERNS, PI))


def test_the_optimal_kernel_gives_every_trajectory_the_exact_weight():
    """With the exact reverse kernel and p(x_T) = q(x_T) (the paper's schedule ends in pure noise),
    p(x_{0:T}) = q(x_0) q(x_{1:T}|x_0): every log-weight is log q(x_0), whatever the trajectory. This
    checks every density in log w (forward kernel, reverse kernel, decoder, prior) at once."""
    model = gaussian_model(schedule="paper")
    x = gaussian_data(20)
    log_w = trajectory_log_weights(model, x, 8, seed=1)
    truth = Normal(MEAN, STD).log_prob(x).sum(1)
    assert float((log_w - truth[:, None]).abs().max()) < 1e-9
    assert torch.allclose(effective_sample_size(log_w), torch.full((20,), 8.0, dtype=torch.float64))
    # one bit: the per-bit kernel is the exact reverse kernel, so binary weights are exact too
    process = make_process(DiffusionConfig(process="binomial", T=30, schedule="paper", beta_1=1 / 30, pi=PI))
    model = DiffusionModel(process, EnumerationOracle(process, [[0.0], [1.0], [1.0]], PI))
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    log_w = trajectory_log_weights(model, x, 8, seed=2)
    assert float((log_w - torch.log(torch.tensor([[1 / 3], [2 / 3]], dtype=torch.float64))).abs().max()) < 1e-9


def test_L_k_rises_with_k_to_the_exact_log_likelihood_of_a_gaussian_model():
    """A kernel off the optimum by constants: the model is still linear-Gaussian, so its marginal
    p(x_0) is known exactly, but its kernels reverse no forward chain: K is 0.4 bits short."""
    model = gaussian_model(lambda process: Perturbed(GaussianOracle(process, MEAN, STD), 0.15, 0.3))
    x = gaussian_data(300)
    truth = linear_gaussian_log_marginal(model, x)
    log_w = trajectory_log_weights(model, x, 64, seed=1)
    K = estimate_bound(model, x, torch.Generator().manual_seed(3), trajectories=4, t_samples=0).K * math.log(2)
    assert float((truth - K).mean()) > 0.2  # a real gap to close
    check_approach(log_w, truth, K)


def test_L_k_rises_with_k_to_the_exact_log_probability_of_a_binary_model():
    """Four bits, three patterns, T = 10: factorized per-bit kernels leave a gap of 0.13 nats; the model's own marginal is
    exact by enumerating all 16 states through every reverse step."""
    model = binary_model()
    x = torch.as_tensor(PATTERNS, dtype=torch.float64).repeat(60, 1)
    truth = enumerated_log_marginal(model, x)
    log_w = trajectory_log_weights(model, x, 32, seed=1)
    K = estimate_bound(model, x, torch.Generator().manual_seed(3), trajectories=8, t_samples=0).K * math.log(2)
    check_approach(log_w, truth, K)


def test_each_example_draws_from_its_own_stream_whatever_the_batch():
    model = gaussian_model(lambda process: Perturbed(GaussianOracle(process, MEAN, STD), 0.15, 0.3))
    x = gaussian_data(12)
    whole = trajectory_log_weights(model, x, 20, seed=4)
    part = trajectory_log_weights(model, x[5:9], 20, seed=4, first_index=5, rows=7)
    assert torch.equal(whole[5:9], part)
    assert not torch.equal(whole, trajectory_log_weights(model, x, 20, seed=5))
    assert whole.std(dim=1).min() > 0  # the trajectories of one example differ


def test_nested_estimates_use_disjoint_blocks_of_the_same_draws():
    log_w = torch.log(torch.tensor([[1.0, 3.0, 4.0, 4.0, 5.0]], dtype=torch.float64))
    assert nested_sizes(5) == [1, 2, 4, 5] and nested_sizes(1) == [1] and nested_sizes(8) == [1, 2, 4, 8]
    assert math.isclose(float(blocked_bound(log_w, 2)), (math.log(2.0) + math.log(4.0)) / 2)  # 5th draw unused
    assert math.isclose(float(blocked_bound(log_w, 5)), math.log(17 / 5))
    assert math.isclose(float(effective_sample_size(log_w)), 17**2 / 67)
    estimate = ImportanceEstimate(log_w=log_w, offset=1.0)
    assert math.isclose(float(estimate.bound()), math.log2(17 / 5) + 1.0)


def test_degenerate_weights_are_said_to_be_so():
    """A badly wrong kernel puts nearly all the weight on one trajectory per example: the record
    flags it and the text warns instead of printing a confident number."""
    model = gaussian_model(lambda process: Perturbed(GaussianOracle(process, MEAN, STD), 1.5, 3.0))
    log_w = trajectory_log_weights(model, gaussian_data(30), 8, seed=1)
    ess = effective_sample_size(log_w).numpy()
    assert np.median(ess) < 1.5 and degenerate(ess, 8)
    assert not degenerate(np.full(30, 6.0), 8) and not degenerate(np.ones(30), 1)
    # k = 2: two unequal weights always give an ESS below 2; one carries them below 1.5
    assert carried_by_one(np.array([1.99, 1.6, 1.2]), 2).tolist() == [False, False, True]
    record = {"units": "bits/example", "importance_samples": 8, "K_iw": -1.0, "K_iw_stderr": 0.1, "K_iw_minus_K": 0.5,
              "K_iw_minus_K_stderr": 0.1, "K_iw_data": -1.0, "ess_mean": 1.1, "ess_median": 1.0, "ess_min": 1.0,
              "K_iw_nested": {"1": -1.5, "8": -1.0}, "iw_degenerate": True}
    assert any("degenerate" in line for line in describe_importance(record))
    assert not any("degenerate" in line for line in describe_importance({**record, "iw_degenerate": False}))


def test_a_bound_still_rising_with_k_is_said_to_be_so():
    """A kernel off the optimum with few trajectories: L_8 is clearly above L_4 (paired), so the record
    says K_iw is not converged and the text says more trajectories would tighten it; with the optimal
    kernel every weight is the same and nothing rises."""
    x = gaussian_data(200)
    off = gaussian_model(lambda process: Perturbed(GaussianOracle(process, MEAN, STD), 0.3, 0.6))
    def nested(model):
        estimate = ImportanceEstimate(log_w=trajectory_log_weights(model, x, 8, seed=1), offset=0.0)
        return {j: v.numpy() for j, v in estimate.nested().items()}

    rising = still_rising(nested(off), 1)
    assert rising["K_iw_still_rising"] and rising["K_iw_last_gain_from"] == 4
    assert rising["K_iw_last_gain"] > 2 * rising["K_iw_last_gain_stderr"] > 0
    exact = gaussian_model(schedule="paper")
    flat = still_rising(nested(exact), 1)
    assert not flat["K_iw_still_rising"] and abs(flat["K_iw_last_gain"]) < 1e-9
    record = {"units": "bits/example", "importance_samples": 8, "K_iw": -1.0, "K_iw_stderr": 0.1, "K_iw_minus_K": 0.5,
              "K_iw_minus_K_stderr": 0.1, "K_iw_data": -1.0, "ess_mean": 3.0, "ess_median": 3.0, "ess_min": 1.0,
              "ess_below_2": 0.25, "K_iw_nested": {"1": -1.5, "8": -1.0}, "iw_degenerate": False}
    text = describe_importance({**record, **rising})
    assert any("still rises from k = 4 to 8" in line for line in text)
    assert any("25% of the examples" in line for line in text)
    quiet = describe_importance({**record, "ess_below_2": 0.0, **flat})
    assert not any("still rises" in line or "% of the examples" in line for line in quiet)


@pytest.mark.parametrize("k", [0, -3])
def test_the_setting_refuses_nonpositive_sample_counts(k):
    from thermodiff import ConfigError, EvalConfig

    with pytest.raises(ConfigError, match="at least 1"):
        EvalConfig(importance_samples=k)
