"""Continuous time: the talk's limit as a process. Closed forms against the slide, the N-step
bound below and converging to the continuous one, exactness on Gaussian data, bad settings."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import TINY, check_approach, linear_gaussian_log_marginal
from thermodiff.cli import main
from thermodiff.equations import continuous as c
from thermodiff.errors import ConfigError
from thermodiff.evaluation.estimate import estimate_bound
from thermodiff.evaluation.importance import trajectory_log_weights
from thermodiff.gamma import GammaSchedule
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process
from thermodiff.schedule import ScheduleKind

SCHEDULES = [ScheduleKind.LOGSNR, ScheduleKind.CONSTANT, ScheduleKind.COSINE, ScheduleKind.LEARNED]


@pytest.mark.parametrize("kind", SCHEDULES)
def test_gamma_runs_between_its_endpoints_increasing_with_the_slope_it_reports(kind):
    schedule = GammaSchedule(kind, -10.0, 6.0)
    t = torch.linspace(0.0, 1.0, 401, dtype=torch.float64)
    with torch.no_grad():
        gamma, slope = schedule.gamma_and_slope(t)
        assert float(gamma[0]) == pytest.approx(-10.0, abs=1e-9) and float(gamma[-1]) == pytest.approx(6.0, abs=1e-9)
        assert bool((slope > 0).all()) and bool((torch.diff(gamma) > 0).all())
        h = 1e-6
        inner = t[1:-1]
        numeric = (schedule.gamma(inner + h) - schedule.gamma(inner - h)) / (2 * h)
    assert torch.allclose(slope[1:-1], numeric, rtol=1e-5, atol=1e-6)


def test_the_talks_schedule_gives_the_slides_csch2_weight():
    """alpha_t = exp(-(b_0 + beta t)/2): -SNR'(t)/2 = gamma' e^-gamma / 2 is beta csch^2(beta t'/2) / 8, t' = t + b_0/beta."""
    schedule = GammaSchedule(ScheduleKind.CONSTANT, -8.0, 4.0)
    b0, b1 = math.log1p(math.exp(-8.0)), math.log1p(math.exp(4.0))  # softplus of the endpoints
    beta = b1 - b0
    t = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    with torch.no_grad():
        gamma, slope = schedule.gamma_and_slope(t)
    general = 0.5 * slope * torch.exp(-gamma)
    assert torch.allclose(general, c.slide_weight(beta, t + b0 / beta), rtol=1e-10)


def test_a_learned_shape_stays_monotone_whatever_its_parameters():
    schedule = GammaSchedule(ScheduleKind.LEARNED, -12.0, 5.0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in schedule.shape.parameters():
            p.copy_(5.0 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        t = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
        gamma, slope = schedule.gamma_and_slope(t)
    assert bool((slope > 0).all()) and bool((torch.diff(gamma) >= 0).all())
    assert float(gamma[0]) == pytest.approx(-12.0, abs=1e-9) and float(gamma[-1]) == pytest.approx(5.0, abs=1e-9)


class OptimalXHat(nn.Module):
    """For data N(m, v) per dimension: the network output whose x_hat is E[x | z_t] exactly
    (linear in z_t: m + alpha v (z - alpha m) / (alpha^2 v + sigma^2))."""

    def __init__(self, schedule, m, v):
        super().__init__()
        self.schedule, self.m, self.v = schedule, m, v
        self.dummy = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, z, index, s):
        lo, hi = self.schedule.reference
        gamma = (lo + (hi - lo) * s.to(torch.float64))[:, None]
        alpha, sigma = c.alpha_sigma(gamma)
        x_hat = self.m + alpha * self.v * (z - alpha * self.m) / (alpha**2 * self.v + sigma**2)
        return ((x_hat - alpha * z) / sigma)[:, None]


def _gaussian_model(kind=ScheduleKind.LOGSNR):
    process = make_process(DiffusionConfig(process="continuous", schedule=kind, T=50, gamma_0=-9.0, gamma_1=6.0))
    m, v = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.3, 2.0], dtype=torch.float64)
    return DiffusionModel(process, OptimalXHat(process.schedule, m, v)).double(), m, v


def _exact_minus_K(process, m, v, steps=None, grid=20001):
    """-K averaged over the data, from the formulas: decoder + L (infinite or N steps) + prior.
    With the optimal x_hat, E||x - x_hat(z_t)||^2 = sum Var[x | z_t] = sum v sigma^2 / (alpha^2 v + sigma^2)."""
    schedule = process.schedule
    D = m.numel()
    t = torch.linspace(0.0, 1.0, grid if steps is None else steps + 1, dtype=torch.float64)
    with torch.no_grad():
        gamma, slope = schedule.gamma_and_slope(t)
    alpha2, sigma2 = torch.sigmoid(-gamma)[:, None], torch.sigmoid(gamma)[:, None]
    mse = (v * sigma2 / (alpha2 * v + sigma2)).sum(1)
    if steps is None:
        f = 0.5 * slope * torch.exp(-gamma) * mse
        diffusion = float(((f[1:] + f[:-1]) / 2 * torch.diff(t)).sum())  # trapezoid: the integrand is smooth
    else:
        diffusion = float((-0.5 * torch.exp(-gamma[:-1]) * torch.expm1(gamma[:-1] - gamma[1:]) * mse[1:]).sum())
    a1, s1 = torch.sigmoid(-gamma[-1]), torch.sigmoid(gamma[-1])
    prior = float(0.5 * (a1 * (m**2 + v) - a1 - torch.log(s1)).sum())
    return float(c.decoder_nll(gamma[0], D)) + diffusion + prior


def test_the_N_step_bound_lies_below_the_continuous_one_and_converges_to_it():
    model, m, v = _gaussian_model()
    exact = {N: _exact_minus_K(model.process, m, v, N) for N in (5, 20, 100, 1000)}
    infinite = _exact_minus_K(model.process, m, v)
    values = [exact[N] for N in (5, 20, 100, 1000)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] > infinite  # -K_N falls to -K
    assert values[-1] - infinite < 0.01 * (values[0] - infinite)


def test_estimators_of_the_continuous_and_N_step_bounds_match_their_formulas_on_gaussian_data():
    """On Gaussian data with the optimal x_hat: the continuous bound equals the true log-likelihood up
    to what the endpoints leave, never above it; the discretized chain's bound is the N-step formula."""
    model, m, v = _gaussian_model()
    gen = torch.Generator().manual_seed(0)
    x = m + v.sqrt() * torch.randn(4000, 3, generator=gen, dtype=torch.float64)
    true = torch.distributions.Normal(m, v.sqrt()).log_prob(x).sum(1) / math.log(2)
    est = estimate_bound(model, x, gen, trajectories=2, t_samples=32)
    gap = true - est.K
    se = float(gap.std() / math.sqrt(gap.numel()))
    assert float(gap.mean()) > -3 * se  # never above the truth beyond its noise
    assert float(gap.mean()) < 3 * se + 0.01  # gamma_0 = -9, gamma_1 = 6 leave well under 0.01 bits
    se_K = float(est.K.std() / math.sqrt(est.K.numel()))  # the exact value averages over the data too
    assert float(est.K.mean()) * math.log(2) == pytest.approx(-_exact_minus_K(model.process, m, v), abs=3 * se_K * math.log(2))
    chain = model.with_steps(20)
    est20 = estimate_bound(chain, x[:1000], gen, trajectories=2, t_samples=0)
    se20 = float(est20.K.std() / math.sqrt(1000))
    assert float(est20.K.mean()) * math.log(2) == pytest.approx(-_exact_minus_K(model.process, m, v, 20),
                                                               abs=3 * se20 * math.log(2))


def test_bad_settings_get_one_clear_message():
    with pytest.raises(ConfigError, match="below gamma_1"):
        make_process(DiffusionConfig(process="continuous", gamma_0=2.0, gamma_1=1.0))
    with pytest.raises(ConfigError, match="continuous-time process takes"):
        make_process(DiffusionConfig(process="continuous", schedule="paper"))
    with pytest.raises(ConfigError, match="continuous-time process"):
        make_process(DiffusionConfig(process="gaussian", schedule="constant"))
    process = make_process(DiffusionConfig(process="continuous"))
    with pytest.raises(ConfigError, match="at least 1"):
        process.discretized(0)
    with pytest.raises(ConfigError, match="continuous-time runs"):
        make_process(DiffusionConfig(T=30)).discretized(10)


def test_the_importance_weighted_bound_of_an_N_step_chain_rises_to_its_exact_log_likelihood():
    """The chain of 8 steps from the optimal x_hat is linear-Gaussian, so its own p(x_0) is known
    exactly: L_k over its trajectories climbs from its K towards it and never passes it."""
    model, m, v = _gaussian_model()
    chain = model.with_steps(8)
    x = m + v.sqrt() * torch.randn(300, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    truth = linear_gaussian_log_marginal(chain, x)
    K = estimate_bound(chain, x, torch.Generator().manual_seed(3), trajectories=4, t_samples=0).K * math.log(2)
    assert float((truth - K).mean()) > 1.0  # eight steps leave a real gap to close
    check_approach(trajectory_log_weights(chain, x, 64, seed=2), truth, K)


@pytest.fixture(scope="module")
def continuous_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("continuous")
    x = np.random.default_rng(0).multivariate_normal([1.0, -2.0], [[2.0, 0.8], [0.8, 1.0]], size=300)
    np.save(root / "x.npy", x)
    assert main(["train", str(root / "x.npy"), "--out", str(root / "run"), "--process", "continuous",
                 "--schedule", "learned", "--steps", "30", *TINY]) == 0
    return root


def test_continuous_runs_evaluate_sample_condition_and_resume(continuous_run, capsys):
    root = continuous_run
    run = str(root / "run")
    capsys.readouterr()
    assert main(["evaluate", run, "--json", "--t-samples", "16"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["estimator"] == "stratified-uniform-time(16)" and np.isfinite(record["K"])
    assert main(["evaluate", run, "--json", "--steps", "10", "--t-samples", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 10
    assert main(["evaluate", run, "--json", "--steps", "10", "--importance-samples", "4", "--max-examples", "20"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["importance_samples"] == 4 and record["K_iw"] >= record["K"] - 5 * record["stderr"]
    assert main(["evaluate", run, "--importance-samples", "4"]) == 2
    assert "--steps N" in capsys.readouterr().err
    assert main(["sample", run, "--n", "7", "--steps", "5", "--out", str(root / "s.npy")]) == 0
    assert np.load(root / "s.npy").shape == (7, 2)
    np.save(root / "obs.npy", np.array([[1.0, np.nan]]))
    np.save(root / "mask.npy", np.array([[1, 0]]))
    assert main(["inpaint", run, "--data", str(root / "obs.npy"), "--mask", str(root / "mask.npy"), "--steps", "8",
                 "--n-samples", "3", "--out", str(root / "f.npy")]) == 0
    filled = np.load(root / "f.npy")
    assert filled.shape == (3, 1, 2) and np.all(filled[:, 0, 0] == 1.0)
    assert main(["plot", run, "--out", str(root / "t.png"), "--steps", "10"]) == 0
    assert main(["train", str(root / "x.npy"), "--out", run, "--resume", "--steps", "35"]) == 0
    assert main(["evaluate", run, "--t-samples", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_smc_runs_over_the_n_step_chain_of_a_continuous_run(continuous_run, capsys, monkeypatch):
    """--method smc on a continuous-time run samples the chain of with_steps(N) (default: the
    run's T), like the other methods: with one particle (and Tweedie's covariance at every step)
    it is the diffused method bit for bit."""
    from thermodiff.conditioning import PosteriorConfig
    from thermodiff.conditioning.dense import ParticleDensePath
    from thermodiff.run import Run

    root = continuous_run
    run = Run.open(root / "run")
    observed, mask = np.array([[1.0, 0.0], [0.5, -1.0]]), np.array([1, 0])
    for steps in (8, None):
        expected = run.load_model().with_steps(steps).T  # N + 1 reverse steps: x_0 below the N-step grid's first time
        done = []
        result = run.inpaint_posterior(observed, mask, PosteriorConfig(method="smc", particles=4, n_samples=6, seed=2),
                                       progress=done.append, steps=steps)
        assert sum(done) == expected  # all systems in one batch, down every step of the N-step chain
        assert result.samples.shape == (6, 2, 2) and np.all(result.samples[:, :, 0] == observed[:, 0])
        assert np.all(np.isfinite(result.report.log_evidence)) and np.all(result.report.log_evidence_stderr >= 0)
    one = PosteriorConfig(method="smc", particles=1, n_samples=3, seed=5)
    diffused = PosteriorConfig(method="diffused", n_samples=3, seed=5)
    with monkeypatch.context() as patch:
        patch.setattr(ParticleDensePath, "max_gain", math.inf)
        assert np.array_equal(run.inpaint(observed, mask, one, steps=6), run.inpaint(observed, mask, diffused, steps=6))
    np.save(root / "noisy.npy", np.load(root / "x.npy")[:3])
    capsys.readouterr()
    assert main(["denoise", str(root / "run"), "--data", str(root / "noisy.npy"), "--noise-std", "0.5", "--method", "smc",
                 "--particles", "4", "--n-samples", "2", "--steps", "5", "--out", str(root / "c.npy")]) == 0
    assert np.load(root / "c.npy").shape == (2, 3, 2) and "example 2: log p(y)" in capsys.readouterr().out


def test_the_network_may_run_in_bfloat16_while_the_bound_stays_float64(tmp_path):
    x = np.random.default_rng(1).normal(size=(200, 2))
    np.save(tmp_path / "x.npy", x)
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--process", "continuous",
                 "--precision", "bf16", "--steps", "10", *TINY]) == 0
    from thermodiff.run import Run

    model = Run.open(tmp_path / "run").load_model()
    table = model.process.table()
    t = torch.full((4,), 0.5, dtype=torch.float64)
    kernel = model.kernel(torch.zeros(4, 2, dtype=torch.float64), t, table)
    assert kernel.x0_hat.dtype == torch.float64
    record = Run.open(tmp_path / "run").evaluate(config=None).summary()
    assert np.isfinite(record["K"])


def test_a_learned_shape_follows_the_variance_gradient_and_the_endpoints_the_bounds():
    """The shape of gamma between its endpoints does not change the bound, so its parameters get
    d E[L^2]/d eta (the estimator's second moment) while the endpoints get dK/d gamma_{0,1}."""
    from thermodiff.bound import minus_K
    from thermodiff.networks import MLPConfig, ModelConfig, make_network
    from thermodiff.variance import StepDraws

    torch.manual_seed(0)
    config = DiffusionConfig(process="continuous", schedule="learned", gamma_0=-8.0, gamma_1=4.0)
    process = make_process(config)
    network = make_network(ModelConfig(mlp=MLPConfig(width=16, depth=1, bumps=4)), (2,), 1, config.T)
    model = DiffusionModel(process, network)
    with torch.no_grad():
        for p in network.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(64, 2, dtype=torch.float64)
    steps = StepDraws(t=torch.rand(64, 1, dtype=torch.float64), w=torch.ones(64, 1, dtype=torch.float64))
    noise = torch.randn(64, 2, dtype=torch.float64)

    def grads(loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        return ({n: p.grad.clone() for n, p in process.schedule.shape.named_parameters()}, process.schedule.ends.grad.clone())

    def plain_terms():  # a table whose holder never keeps a scale: gradients pass unchanged
        table = process.table()
        table.holder = _NoScale()
        return minus_K(process, model.kernel, model.steps, x, steps, noise, table)

    shape_trick, ends_trick = grads(model(x, steps, noise).total.mean())
    shape_direct, _ = grads((plain_terms().ell[:, 0] ** 2).mean())
    _, ends_direct = grads(plain_terms().total.mean())
    for name in shape_trick:  # the network runs in float32: agreement to its rounding
        scale = float(shape_direct[name].abs().max())
        assert torch.allclose(shape_trick[name], shape_direct[name], rtol=1e-5, atol=1e-5 * scale), name
    assert torch.allclose(ends_trick, ends_direct, rtol=1e-10)


class _NoScale(dict):
    """A holder that never keeps a scale: VarianceGradient passes gradients through unchanged."""

    def __setitem__(self, key, value):
        pass
