"""Posteriors by multiplying distributions: closed forms, exactness with the optimal kernel, inputs."""

import math

import numpy as np
import pytest
import torch

from helpers import EnumerationOracle, GaussianOracle
from thermodiff.cli import main
from thermodiff.conditioning import CONDITIONERS, Method, PosteriorConfig, Smooth, denoising, inpainting, sample_posterior
from thermodiff.data import DataError, Normalization
from thermodiff.data.normalize import identity
from thermodiff.model import DiffusionModel
from thermodiff.equations.products import (LinearEvidence, condition_gaussian, first_order_tilt, matched_step,
                                           matheron_update, secant_tilt, split_observation)
from thermodiff.processes import DiffusionConfig, ProcessKind, make_process

D = 4
M_W = torch.tensor([0.2, -0.3, 0.1, 0.0], dtype=torch.float64)
S_W = torch.tensor([0.8, 1.2, 1.0, 0.6], dtype=torch.float64)


def random_evidence(gen, B, m, singular_rows=()):
    A = torch.randn(B, m, D, generator=gen, dtype=torch.float64)
    L = torch.randn(B, m, m, generator=gen, dtype=torch.float64)
    R = L @ L.transpose(1, 2) + 0.1 * torch.eye(m, dtype=torch.float64)
    for r in singular_rows:
        R[:, r, :] = 0.0
        R[:, :, r] = 0.0
    return LinearEvidence(A=A, y=torch.randn(B, m, generator=gen, dtype=torch.float64), R=R)


def test_product_of_gaussians_matches_the_information_form():
    """N(mu, V) N(y; A x, R) normalized: precision V^-1 + A^T R^-1 A, mean by the information vector."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(5, D, generator=gen, dtype=torch.float64)
    var = torch.rand(5, D, generator=gen, dtype=torch.float64) + 0.2
    ev = random_evidence(gen, 5, 3)
    mean, cov = condition_gaussian(mu, torch.diag_embed(var), ev)
    Rinv = torch.linalg.inv(ev.R)
    precision = torch.diag_embed(1 / var) + ev.A.transpose(1, 2) @ Rinv @ ev.A
    info = mu / var + (ev.A.transpose(1, 2) @ Rinv @ ev.y.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(cov, torch.linalg.inv(precision), atol=1e-10)
    assert torch.allclose(mean, torch.linalg.solve(precision, info), atol=1e-10)
    # the paper's code: one coordinate observed with noise sigma_d^2 is sigma'^-2 = sigma^-2 + sigma_d^-2
    one = LinearEvidence(A=torch.eye(D, dtype=torch.float64)[None], y=torch.ones(1, D, dtype=torch.float64),
                         R=0.5 * torch.eye(D, dtype=torch.float64)[None])
    mean1, cov1 = condition_gaussian(mu[:1], torch.diag_embed(var[:1]), one)
    assert torch.allclose(torch.diagonal(cov1[0]), 1 / (1 / var[0] + 2.0), atol=1e-12)
    assert torch.allclose(mean1[0], (mu[0] / var[0] + 2.0) / (1 / var[0] + 2.0), atol=1e-12)


@pytest.mark.parametrize("singular", [(), (1,)])
def test_matheron_draws_have_the_product_distribution(singular):
    """Exact draws, also with a delta (zero-variance) row; tolerance from the sample size."""
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(1, D, generator=gen, dtype=torch.float64)
    var = torch.rand(1, D, generator=gen, dtype=torch.float64) + 0.2
    ev = random_evidence(gen, 1, 2, singular)
    mean, cov = condition_gaussian(mu, torch.diag_embed(var), ev)
    n = 200_000
    draw = mu + var.sqrt() * torch.randn(n, D, generator=gen, dtype=torch.float64)
    x = matheron_update(draw, var.expand(n, D), ev.repeat(n), torch.randn(n, 2, generator=gen, dtype=torch.float64))
    sd = torch.diagonal(cov[0]).clamp(min=1e-12).sqrt()
    assert ((x.mean(0) - mean[0]).abs() <= 5 * sd / math.sqrt(n) + 1e-9).all()
    assert torch.allclose(torch.cov(x.T), cov[0], atol=6 * float(cov[0].abs().max()) / math.sqrt(n) + 1e-9)
    if singular:  # the delta row holds exactly
        assert torch.allclose(x @ ev.A[0, 1], ev.y[0, 1].expand(n), atol=1e-9)


def test_split_observation_gives_two_independent_observations_with_the_same_information():
    """y = x + N(0, v) becomes y1 ~ N(x, lam) and y2 ~ N(x, r2), uncorrelated, with 1/lam + 1/r2 = 1/v."""
    gen = torch.Generator().manual_seed(4)
    n, lam = 200_000, 2.0
    v = torch.tensor([0.5, 1.0, 1.9, 2.0], dtype=torch.float64)
    x = torch.tensor([1.0, -1.0, 0.0, 3.0], dtype=torch.float64)
    y = x + v.sqrt() * torch.randn(n, 4, generator=gen, dtype=torch.float64)
    y1, rest = split_observation(y, v.expand(n, 4), lam, torch.randn(n, 4, generator=gen, dtype=torch.float64))
    e1, e2 = y1 - x, rest.y - x
    tol = 6 / math.sqrt(n)
    assert torch.allclose(e1.var(0), torch.full((4,), lam, dtype=torch.float64), rtol=tol)
    informs = rest.a[0] > 0
    assert informs.tolist() == [True, True, True, False]  # at v = lam the leftover carries nothing
    assert torch.allclose(e2[:, informs].var(0), rest.r[0, informs], rtol=tol)
    assert torch.allclose(1 / lam + 1 / rest.r[0, informs], 1 / v[informs])
    corr = ((e1 - e1.mean(0)) * (e2 - e2.mean(0))).mean(0)[informs] / (e1.std(0) * e2.std(0))[informs]
    assert (corr.abs() < tol).all()


def test_matched_step_is_the_first_step_at_least_as_noisy_as_the_data():
    table = make_process(DiffusionConfig(T=100)).table()
    lam = (1 - table.alpha_bar) / table.alpha_bar
    for v in (1e-6, 0.3, 1.0, 5.0):
        s = matched_step(table.alpha_bar, v)
        assert lam[s] >= v and (s == 1 or lam[s - 1] < v)
    assert matched_step(table.alpha_bar, float(lam[-2]) * 10) is None


def test_first_order_tilt_is_exact_for_a_linear_log_r():
    """r(x) = exp(g.x) shifts N(mu, V) to N(mu + V g, V) exactly."""
    mu, var, g = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0]), torch.tensor([0.3, -1.0])
    assert torch.allclose(first_order_tilt(mu, var, g), torch.tensor([1.15, -4.0]))


def test_the_secant_tilt_is_the_exact_product_for_isotropic_gaussian_evidence():
    """r(x) = N(y; x, R I) and N(mu, v I): the product's mean mu + v / (v + R) (y - mu), exactly, from
    two gradients (one R per example); a linear log r keeps the first-order form; and no step is
    longer than the first-order one (which, for R much smaller than v, overshoots y by v / R)."""
    mu = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=torch.float64)
    var, y = torch.full((2, 3), 0.5, dtype=torch.float64), torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    R = torch.tensor([[0.01], [2.0]], dtype=torch.float64)
    grad = lambda x: (y - x) / R  # noqa: E731
    tilted = secant_tilt(mu, var, grad(mu), grad(first_order_tilt(mu, var, grad(mu))))
    assert torch.allclose(tilted, mu + var / (var + R) * (y - mu))
    g = torch.tensor([[0.3, -1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(secant_tilt(mu[:1], var[:1], g, g), first_order_tilt(mu[:1], var[:1], g))
    gen = torch.Generator().manual_seed(0)
    g0, g1 = torch.randn(1000, 3, generator=gen, dtype=torch.float64), 3 * torch.randn(1000, 3, generator=gen, dtype=torch.float64)
    shift = secant_tilt(mu[:1], var[:1], g0, g1) - mu[:1]
    a = shift / (var[:1] * g0)
    assert ((a > 0) & (a <= 1 + 1e-12)).all() and torch.allclose(a, a[:, :1].expand_as(a))  # one a per example


# -- the sampler, on Gaussian data with the optimal reverse kernel -------------------------------
def gaussian_setup(T=60):
    """An oracle model in whitened coordinates and data coordinates x = o + M w with a dense M."""
    process = make_process(DiffusionConfig(T=T))
    model = DiffusionModel(process, GaussianOracle(process, M_W, S_W))
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    W = Q @ np.diag([0.5, 1.0, 2.0, 4.0]) @ Q.T
    norm = Normalization(mean=np.array([1.0, -2.0, 0.5, 3.0]), std=np.array([2.0, 0.5, 1.0, 3.0]), whitening=W)
    M = norm.std[:, None] * np.linalg.inv(W)
    mean = norm.mean + M @ M_W.numpy()
    cov = M @ np.diag(S_W.numpy() ** 2) @ M.T
    return model, norm, mean, cov


def exact_conditional(mean, cov, A, y, R):
    m, c = condition_gaussian(torch.tensor(mean)[None], torch.tensor(cov)[None],
                              LinearEvidence(torch.tensor(A)[None], torch.tensor(y)[None], torch.tensor(R)[None]))
    return m[0].numpy(), c[0].numpy()


def worst_errors(samples, mean, cov):
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    free = sd > 1e-8
    mean_err = float((np.abs(samples.mean(0) - mean)[free] / sd[free]).max())
    c = np.cov(samples[:, free].T)
    return mean_err, float(np.linalg.norm(c - cov[np.ix_(free, free)]) / np.linalg.norm(cov[np.ix_(free, free)]))


N_SAMPLES = 3000
# With n exact draws, a mean error is ~N(0, 1/n) in sd units, so 4/sqrt(n) bounds the worst of a
# few coordinates; the covariance error of n draws is about sqrt(2/n) per entry: 0.1 is ~4x that.
MEAN_TOL, COV_TOL = 4 / math.sqrt(N_SAMPLES), 0.1


def test_diffused_method_samples_the_exact_conditional_and_the_paper_heuristic_does_not():
    model, norm, mean, cov = gaussian_setup()
    x = np.array([[1.5, -2.5, 0.0, 4.0]])
    mask = np.array([[True, False, True, False]])
    noisy = np.array([[2.0, -1.0, 1.0, 2.0]])
    cases = {
        "inpaint": (inpainting(x, mask, (D,)), exact_conditional(mean, cov, np.eye(D)[[0, 2]], x[0, [0, 2]], np.zeros((2, 2)))),
        "denoise": (denoising(noisy, 1.0, (D,)), exact_conditional(mean, cov, np.eye(D), noisy[0], np.eye(D))),
    }
    cfg = dict(n_samples=N_SAMPLES, seed=3)
    for name, (evidence, (m, c)) in cases.items():
        s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, evidence, PosteriorConfig(method="diffused", **cfg))
        assert s.shape == (N_SAMPLES, 1, D)
        mean_err, cov_err = worst_errors(s[:, 0], m, c)
        assert mean_err < MEAN_TOL and cov_err < COV_TOL, (name, mean_err, cov_err)
    # the paper's r_t = r: measurably off for denoising (its covariance is too narrow)
    s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, cases["denoise"][0], PosteriorConfig(method="paper", **cfg))
    assert worst_errors(s[:, 0], *cases["denoise"][1])[1] > 3 * COV_TOL


def test_known_values_are_never_changed():
    model, norm, _, _ = gaussian_setup(T=20)
    x = np.random.default_rng(1).normal(size=(3, D)) * 10
    mask = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0]], bool)
    for method in Method:
        s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, inpainting(x, mask, (D,)),
                             PosteriorConfig(method=method, n_samples=5, chains=4))
        assert np.array_equal(s[:, mask], np.broadcast_to(x[mask], s[:, mask].shape))
        assert np.isfinite(s).all() and not np.allclose(s[0][~mask], s[1][~mask])


@pytest.mark.parametrize("variance, methods", [(1.0, ["diffused"]), (4.0, ["paper", "diffused"])])
def test_smooth_evidence_lands_near_the_exact_conditional_mean(variance, methods):
    """A Gaussian r given as a function: the first-order form gets the conditional mean to first
    order while r is smooth on the scale of each step's spread (the paper's own form diverges
    for the sharper r: its mean update overshoots once Sigma * curvature > 2)."""
    model, norm, mean, cov = gaussian_setup()
    target = np.array([2.0, -1.0, 1.0, 2.0])
    log_r = lambda x: -0.5 * ((x - torch.as_tensor(target)) ** 2).sum(-1) / variance  # noqa: E731
    m, c = exact_conditional(mean, cov, np.eye(D), target, variance * np.eye(D))
    sd = np.sqrt(np.diag(c))
    for method in methods:
        s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, Smooth(log_r, 2000), PosteriorConfig(method=method))
        assert s.shape == (2000, D)
        assert (np.abs(s.mean(0) - m) < 0.25 * sd).all(), (method, (s.mean(0) - m) / sd)
        assert np.abs(s.mean(0) - mean).max() > 0.5  # it did move away from the prior mean


# -- binary ------------------------------------------------------------------------------------
PATTERNS = np.array([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1]], float)


def test_binary_inpainting_matches_the_enumerated_posterior():
    """Data uniform over three patterns; the optimal rates by enumeration. Knowing bit 0 = 0 leaves
    patterns 2 and 3 equally likely; knowing bits 0 and 1 = 0 leaves pattern 3 only."""
    pi = 0.3
    process = make_process(DiffusionConfig(process="binomial", T=200, schedule="paper", beta_1=1 / 200, pi=pi))
    model = DiffusionModel(process, EnumerationOracle(process, PATTERNS, pi))
    mask = np.zeros((2, 6), bool)
    mask[0, 0] = True
    mask[1, [0, 1]] = True
    n = 2000
    out = sample_posterior(model, identity((6,)), (6,), ProcessKind.BINOMIAL, inpainting(np.zeros((2, 6)), mask, (6,)),
                           PosteriorConfig(method="diffused", n_samples=n))
    assert set(np.unique(out)) <= {0.0, 1.0} and (out[:, mask] == 0).all()
    freq = [(out[:, i, None, :] == PATTERNS[None]).all(-1).mean(0) for i in range(2)]
    assert abs(freq[0][1] - 0.5) < 4 * math.sqrt(0.25 / n) + 0.02 and freq[0][1] + freq[0][2] > 0.97, freq
    assert freq[1][2] > 0.97, freq
    paper = sample_posterior(model, identity((6,)), (6,), ProcessKind.BINOMIAL, inpainting(np.zeros((2, 6)), mask, (6,)),
                             PosteriorConfig(method="paper", n_samples=n))
    assert (paper[:, 1, None, :] == PATTERNS[None]).all(-1).mean(0)[2] < 0.9  # the heuristic loses consistency


# -- bad input ---------------------------------------------------------------------------------
def test_bad_evidence_gets_one_clear_message():
    with pytest.raises(DataError, match="does not match"):
        inpainting(np.zeros((2, D)), np.ones((3, D)), (D,))
    with pytest.raises(DataError, match="no known values"):
        inpainting(np.zeros((2, D)), np.array([[1, 0, 0, 0], [0, 0, 0, 0]]), (D,))
    with pytest.raises(DataError, match="every value known"):
        inpainting(np.zeros((1, D)), np.ones((1, D)), (D,))
    with pytest.raises(DataError, match="shape"):
        inpainting(np.zeros((2, D + 1)), np.ones((2, D + 1)), (D,))
    with pytest.raises(DataError, match="positive"):
        denoising(np.zeros((2, D)), -0.5, (D,))
    with pytest.raises(DataError, match="NaN"):
        denoising(np.full((1, D), np.nan), 1.0, (D,))
    # unknown entries may hold anything, NaN included
    assert inpainting(np.array([[1.0, np.nan, 2.0, np.nan]]), np.array([1, 0, 1, 0]), (D,)).mask.shape == (1, D)


def test_cli_inpaint_and_denoise(tmp_path, capsys):
    from helpers import trained_with_two_observations

    data, obs, run = trained_with_two_observations(tmp_path)
    out = tmp_path / "filled.npy"
    assert main(["inpaint", str(run), "--data", str(tmp_path / "obs.npy"), "--mask", str(tmp_path / "mask.npy"),
                 "--n-samples", "3", "--out", str(out)]) == 0
    filled = np.load(out)
    assert filled.shape == (3, 2, 3) and np.array_equal(filled[:, :, [0, 2]], np.broadcast_to(obs[:, [0, 2]], (3, 2, 2)))
    np.save(tmp_path / "one.npy", data[0])  # a single example gives (n_samples, *shape)
    assert main(["denoise", str(run), "--data", str(tmp_path / "one.npy"), "--noise-std", "0.5", "--n-samples", "4",
                 "--method", "paper", "--out", str(out)]) == 0
    assert np.load(out).shape == (4, 3)
    capsys.readouterr()
    assert main(["denoise", str(run), "--data", str(tmp_path / "one.npy"), "--noise-std", "-1", "--out", str(out)]) == 2
    assert main(["inpaint", str(run), "--data", str(tmp_path / "obs.npy"), "--mask", str(tmp_path / "d.npy"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "noise standard deviation must be positive" in err and "mask" in err


def test_coordinate_by_coordinate_path_is_exact_for_independent_gaussian_data():
    """z-scored data and the optimal kernel: the diagonal path (used above ``dense_max`` dimensions,
    for images) takes Var[x_0|x_s] from the kernel's variance and is then exact too."""
    process = make_process(DiffusionConfig(T=60))
    model = DiffusionModel(process, GaussianOracle(process, M_W, S_W))
    norm = Normalization(mean=np.array([1.0, -2.0, 0.5, 3.0]), std=np.array([2.0, 0.5, 1.0, 3.0]))
    mean = norm.mean + norm.std * M_W.numpy()
    sd = norm.std * S_W.numpy()
    noisy = np.array([[2.0, -1.0, 1.0, 2.0]])
    post_var = 1 / (1 / sd**2 + 1.0)
    post_mean = post_var * (mean / sd**2 + noisy[0])
    for method, ok in (("diffused", True), ("paper", False)):
        s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, denoising(noisy, 1.0, (D,)),
                             PosteriorConfig(method=method, n_samples=N_SAMPLES, dense_max=0))[:, 0]
        mean_err = np.abs(s.mean(0) - post_mean) / np.sqrt(post_var)
        var_err = np.abs(s.var(0) / post_var - 1)
        good = mean_err.max() < MEAN_TOL and var_err.max() < COV_TOL
        assert good == ok, (method, mean_err, var_err)
    mask = np.array([[True, False, False, True]])
    s = sample_posterior(model, norm, (D,), ProcessKind.GAUSSIAN, inpainting(noisy, mask, (D,)),
                         PosteriorConfig(n_samples=N_SAMPLES, dense_max=0))[:, 0]
    assert np.array_equal(s[:, mask[0]], np.broadcast_to(noisy[0, mask[0]], (N_SAMPLES, 2)))
    assert (np.abs(s[:, ~mask[0]].mean(0) - mean[~mask[0]]) / sd[~mask[0]] < MEAN_TOL).all()


def test_coupling_carries_evidence_between_correlated_coordinates():
    """z-scored data whose coordinates are correlated (rho = 0.9 between neighbours), the best
    diagonal kernel, the coordinate-by-coordinate path: without coupling the unknown coordinates
    learn of the known ones only through the next step's prediction and miss the conditional
    mean by about a standard deviation; with it (the default) they land within 0.25 sd (the
    first-order coupling's own bias, measured 0.15 sd, does not shrink with T)."""
    from helpers import CorrelatedGaussianOracle

    d = 6
    idx = np.arange(d)
    C = 0.9 ** np.abs(idx[:, None] - idx[None])
    process = make_process(DiffusionConfig(T=60))
    model = DiffusionModel(process, CorrelatedGaussianOracle(process, C))
    norm = identity((d,))
    x = np.array([[1.5, 0.0, 0.0, 0.0, -1.0, 0.0]])
    k = np.array([True, False, False, False, True, False])
    u = ~k
    mean = C[np.ix_(u, k)] @ np.linalg.solve(C[np.ix_(k, k)], x[0, k])
    cov = C[np.ix_(u, u)] - C[np.ix_(u, k)] @ np.linalg.solve(C[np.ix_(k, k)], C[np.ix_(k, u)])
    errors = {}
    for coupling in (True, False):
        s = sample_posterior(model, norm, (d,), ProcessKind.GAUSSIAN, inpainting(x, k[None], (d,)),
                             PosteriorConfig(n_samples=N_SAMPLES, dense_max=0, coupling=coupling))[:, 0]
        errors[coupling] = worst_errors(s[:, u], mean, cov)
    assert errors[True][0] < 0.25 and errors[True][1] < COV_TOL, errors
    assert errors[False][0] > 0.5 and errors[False][1] > 0.5, errors
    # denoising with unequal noise: the noisy start leaves evidence for the steps below it
    noise, y = np.array([0.5, 1.0, 1.0, 2.0, 1.0, 0.3]), np.array([[1.0, 0.5, -0.5, 2.0, 0.0, 1.0]])
    cov = np.linalg.inv(np.linalg.inv(C) + np.diag(noise**-2.0))
    for coupling in (True, False):
        s = sample_posterior(model, norm, (d,), ProcessKind.GAUSSIAN, denoising(y, noise, (d,)),
                             PosteriorConfig(n_samples=N_SAMPLES, dense_max=0, coupling=coupling))[:, 0]
        errors[coupling] = worst_errors(s, cov @ (y[0] / noise**2), cov)
    assert errors[True][0] < 0.25 and errors[True][1] < 1.5 * COV_TOL, errors
    assert errors[False][0] > 0.25 and errors[False][1] > 0.5, errors
    # the dense path (exact Jacobian) after the same noisy start: exact up to the Monte Carlo error
    process = make_process(DiffusionConfig(T=200))
    model = DiffusionModel(process, CorrelatedGaussianOracle(process, C))
    s = sample_posterior(model, norm, (d,), ProcessKind.GAUSSIAN, denoising(y, noise, (d,)),
                         PosteriorConfig(n_samples=N_SAMPLES))[:, 0]
    mean_err, cov_err = worst_errors(s, cov @ (y[0] / noise**2), cov)
    assert mean_err < MEAN_TOL and cov_err < COV_TOL, (mean_err, cov_err)


# -- the choice of path ------------------------------------------------------------------------
def chosen(kind, evidence, norm, shape=(D,), T=20, **options):
    """(start, path, s): the class of what the process's conditioner prepares, of the path that
    start hands on, and the step it starts at."""
    if kind is ProcessKind.GAUSSIAN:
        process = make_process(DiffusionConfig(T=T))
        model = DiffusionModel(process, GaussianOracle(process, M_W, S_W))
    else:
        process = make_process(DiffusionConfig(process="binomial", T=T, schedule="paper", beta_1=1 / T, pi=0.3))
        model = DiffusionModel(process, EnumerationOracle(process, PATTERNS, 0.3))
    start = CONDITIONERS[kind](model, norm, shape, PosteriorConfig(**options)).prepare(evidence, torch.device("cpu"))
    x, s, path = start.start(start.count(), torch.Generator().manual_seed(0))
    return type(start).__name__, type(path).__name__, s


ZSCORE = Normalization(mean=np.array([1.0, -2.0, 0.5, 3.0]), std=np.array([2.0, 0.5, 1.0, 3.0]))
KNOWN = inpainting(np.ones((2, D)), np.array([[1, 0, 0, 1], [0, 1, 0, 0]]), (D,))
NOISY = denoising(np.ones((2, D)), 0.5, (D,))
SMOOTH = Smooth(lambda x: -0.5 * (x**2).sum(-1), 3)


@pytest.mark.parametrize("evidence, whitened, options, start, path, below_T", [
    (KNOWN, True, dict(method="paper"), "DensePath", "DensePath", False),
    (KNOWN, True, dict(dense_max=0), "DiffusedDensePath", "DiffusedDensePath", False),  # a dense map: always dense
    (KNOWN, False, dict(), "DiffusedDensePath", "DiffusedDensePath", False),
    (KNOWN, False, dict(method="paper", dense_max=0), "CoordinatePath", "CoordinatePath", False),
    (KNOWN, False, dict(dense_max=0), "CoupledCoordinatePath", "CoupledCoordinatePath", False),
    (KNOWN, False, dict(dense_max=0, coupling=False), "DiffusedCoordinatePath", "DiffusedCoordinatePath", False),
    (NOISY, True, dict(), "DiffusedDensePath", "DiffusedDensePath", False),
    (NOISY, False, dict(method="paper"), "DensePath", "DensePath", False),
    (NOISY, False, dict(), "NoisyStart", "DiffusedDensePath", True),
    (NOISY, False, dict(dense_max=0), "NoisyStart", "CoupledCoordinatePath", True),
    (NOISY, False, dict(dense_max=0, coupling=False), "NoisyStart", "DiffusedCoordinatePath", True),
    (SMOOTH, True, dict(method="paper"), "SmoothPath", "SmoothPath", False),
    (SMOOTH, False, dict(dense_max=0), "DiffusedSmoothPath", "DiffusedSmoothPath", False),
    # smc: the diffused paths that weigh their draws, always from T (its weights need the model's p(x_T))
    (KNOWN, True, dict(method="smc"), "ParticleDensePath", "ParticleDensePath", False),
    (KNOWN, False, dict(method="smc", dense_max=0, coupling=False), "ParticleCoordinatePath", "ParticleCoordinatePath", False),
    (NOISY, False, dict(method="smc"), "ParticleDensePath", "ParticleDensePath", False),
    (NOISY, False, dict(method="smc", dense_max=0), "ParticleCoupledPath", "ParticleCoupledPath", False),
    (SMOOTH, True, dict(method="smc"), "ParticleSmoothPath", "ParticleSmoothPath", False),
])
def test_each_kind_of_evidence_gets_its_path(evidence, whitened, options, start, path, below_T):
    """The path is chosen once, from the evidence, the normalization, the method and the dimension."""
    norm = gaussian_setup(T=20)[1] if whitened else ZSCORE
    got_start, got_path, s = chosen(ProcessKind.GAUSSIAN, evidence, norm, T=20, **options)
    assert (got_start, got_path) == (start, path)
    assert (1 <= s < 20) if below_T else s == 20, s


@pytest.mark.parametrize("method, path", [("paper", "BinomialPath"), ("diffused", "DiffusedBinomialPath"),
                                          ("smc", "ParticleBinomialPath")])
def test_binary_inpainting_gets_the_binomial_path(method, path):
    evidence = inpainting(np.zeros((2, 6)), np.eye(6, dtype=bool)[:2], (6,))
    assert chosen(ProcessKind.BINOMIAL, evidence, identity((6,)), (6,), method=method) == (path, path, 20)


def test_a_learned_schedule_is_sampled_without_its_gradients():
    """The chain reads a detached table: no state, from the noisy start down, carries a gradient."""
    process = make_process(DiffusionConfig(T=20, schedule="learned"))
    assert process.table().alpha_bar.requires_grad  # the premise
    model = DiffusionModel(process, GaussianOracle(process, M_W, S_W))
    gen = torch.Generator().manual_seed(0)
    for dense_max in (64, 0):
        start = CONDITIONERS[ProcessKind.GAUSSIAN](model, ZSCORE, (D,), PosteriorConfig(dense_max=dense_max)).prepare(
            NOISY, torch.device("cpu"))
        x, s, path = start.start(2, gen)
        assert s < 20 and not x.requires_grad, (dense_max, s)
        for t in range(s, 0, -1):
            x = path.step(x, t, gen)
            assert not x.requires_grad, (dense_max, t)
