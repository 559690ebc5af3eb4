"""Binomial diffusion: closed forms against enumeration, and exactness with the optimal rates."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, kl_divergence

from thermodiff.equations import binomial as b
from helpers import EnumerationOracle
from thermodiff.evaluation.estimate import estimate_bound
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process
from thermodiff.schedule import Schedule, ScheduleKind

PI = 0.3


def _table(T=12):
    return Schedule(ScheduleKind.PAPER, T=T, beta_1=0.05).table()


def test_marginals_compose_and_reach_bernoulli_pi():
    table = _table()
    for x0 in (0.0, 1.0):
        rate = torch.tensor(x0, dtype=torch.float64)
        for t in range(1, table.T + 1):
            rate = b.q_step_rate(rate, table.beta[t], PI)  # P(x_t = 1) from P(x_{t-1} = 1), by linearity
            assert math.isclose(float(rate), float(b.q_marginal_rate(torch.tensor(x0), table.alpha_bar[t], PI)), abs_tol=1e-12)
        assert math.isclose(float(rate), PI, abs_tol=1e-12)  # the paper's schedule ends in the noise itself


def test_posterior_is_bayes_rule_enumerated():
    table = _table()
    for x0, xt, t in itertools.product((0.0, 1.0), (0.0, 1.0), range(2, table.T + 1)):
        joint = []
        for prev in (0.0, 1.0):
            p_prev = float(b.q_marginal_rate(torch.tensor(x0), table.alpha_bar[t - 1], PI))
            p_prev = p_prev if prev else 1 - p_prev
            p_step = float(b.q_step_rate(torch.tensor(prev), table.beta[t], PI))
            joint.append(p_prev * (p_step if xt else 1 - p_step))
        expected = joint[1] / sum(joint)
        logit = b.q_posterior_logit(torch.tensor([[x0]]), torch.tensor([[xt]]), torch.tensor([t]), table, PI)
        assert math.isclose(float(torch.sigmoid(logit)), expected, rel_tol=1e-9, abs_tol=1e-12), (x0, xt, t)


def test_kl_and_mixture_match_direct_formulas():
    gen = torch.Generator().manual_seed(0)
    a, c, w = (4 * torch.randn(50, generator=gen, dtype=torch.float64) for _ in range(3))
    ref = kl_divergence(Bernoulli(logits=a), Bernoulli(logits=c))
    assert torch.allclose(b.bernoulli_kl(a, c), ref, atol=1e-12)
    mix = torch.sigmoid(w) * torch.sigmoid(a) + (1 - torch.sigmoid(w)) * torch.sigmoid(c)
    assert torch.allclose(torch.sigmoid(b.mixture_logit(a, c, w)), mix, atol=1e-12)
    # extreme logits stay finite (no log 0)
    big = torch.tensor([800.0, -800.0], dtype=torch.float64)
    assert torch.isfinite(b.bernoulli_kl(big, -big)).all() and torch.isfinite(b.mixture_logit(big, -big, big)).all()


@pytest.mark.parametrize("patterns, tolerance", [([[0.0], [1.0], [1.0]], 0.01), ([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1]], 0.06)])
def test_optimal_rates_make_the_bound_tight_and_never_above_the_truth(patterns, tolerance):
    """With the exact per-bit reverse marginals K is log P(x) for one bit (a Bernoulli kernel is then
    exact), and within the cost of a factorized kernel for several bits; never above the truth."""
    patterns = np.asarray(patterns, dtype=np.float64)
    process = make_process(DiffusionConfig(process="binomial", T=200, schedule="paper", beta_1=1 / 200, pi=PI))
    unique, counts = np.unique(patterns, axis=0, return_counts=True)
    model = DiffusionModel(process, EnumerationOracle(process, patterns, PI))
    x = torch.as_tensor(unique, dtype=torch.float64)
    est = estimate_bound(model, x.repeat(100, 1), torch.Generator().manual_seed(0), trajectories=4, t_samples=0)
    K = est.K.reshape(100, -1).mean(0)
    se = est.K.reshape(100, -1).std(0) / 10
    truth = torch.as_tensor(np.log2(counts / counts.sum()))
    assert bool((K <= truth + 4 * se + 1e-9).all()), (K, truth, se)
    assert bool((truth - K < tolerance + 4 * se).all()), (K, truth, se)


@pytest.mark.parametrize("rates, weights", [([[0.2, 0.9, 0.6]], [1.0]), ([[0.1], [0.7]], [0.3, 0.7])])
def test_oracle_for_bernoulli_mixtures_is_exact_where_a_factorized_kernel_can_be(rates, weights):
    """Independent bits (one product component), or one bit (any mixture): the data's reverse
    process is then factorized, so the oracle's rates make K the exact log-probability."""
    rates, weights = torch.tensor(rates, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)
    process = make_process(DiffusionConfig(process="binomial", T=200, schedule="paper", beta_1=1 / 200, pi=PI))
    model = DiffusionModel(process, EnumerationOracle(process, rates, PI, weights))
    x = torch.as_tensor(list(itertools.product([0.0, 1.0], repeat=rates.shape[1])), dtype=torch.float64)
    per_component = (x[:, None] * torch.log(rates) + (1 - x[:, None]) * torch.log1p(-rates)).sum(-1)
    truth = torch.logsumexp(per_component + torch.log(weights), dim=1) / math.log(2)
    est = estimate_bound(model, x.repeat(100, 1), torch.Generator().manual_seed(0), trajectories=2, t_samples=0)
    K = est.K.reshape(100, -1).mean(0)
    se = est.K.reshape(100, -1).std(0) / 10
    assert bool(((K - truth).abs() < 0.002 + 4 * se).all()), (K, truth, se)


def test_heartbeat_truth_and_generator():
    from thermodiff.data import heartbeat

    x = heartbeat.generate(500, np.random.default_rng(0), 12, 4)
    assert set(np.unique(x)) == {0.0, 1.0} and np.allclose(x.sum(1), 3)
    assert np.allclose(heartbeat.log_density(x, 12, 4), -math.log(4))
    broken = x[:3].copy()
    broken[:, 0] = 1 - broken[:, 0]
    assert np.all(np.isneginf(heartbeat.log_density(broken, 12, 4)))


def test_binary_runs_end_to_end(tmp_path, capsys):
    import json

    from helpers import TINY
    from thermodiff.cli import main

    run = tmp_path / "hb"
    assert main(["train", "heartbeat:n=600,length=10,period=5", "--out", str(run), "--steps", "30", *TINY]) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["diffusion"]["process"] == "binomial" and config["data"]["normalization"] == "none"
    assert abs(config["diffusion"]["pi"] - 0.2) < 0.02  # the data's mean activity
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["estimator"], record["trajectories"]) == ("full", 2)  # binary runs' default: every step
    assert record["units"] == "bits/example" and record["K_data"] == record["K"] and record["K"] < 0
    assert abs(record["true_log_likelihood"] - math.log2(1 / 5)) < 1e-12
    assert main(["sample", str(run), "--n", "20", "--out", str(tmp_path / "s.npy")]) == 0
    assert set(np.unique(np.load(tmp_path / "s.npy"))) <= {0.0, 1.0}
    assert main(["plot", str(run), "--out", str(tmp_path / "r.png")]) == 0


def test_binomial_refuses_non_binary_data(tmp_path, capsys):
    from thermodiff.cli import main

    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 3)))
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "r"), "--process", "binomial"]) == 2
    err = capsys.readouterr().err
    assert "0 or 1" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "config.json").exists()
