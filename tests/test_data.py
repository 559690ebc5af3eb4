"""Loaders, validation, built-in generators and their exact densities."""

import math

import numpy as np
import pytest
import torch

from thermodiff.data import DataConfig, DataError, fit_per_dimension, load_dataset, load_file, split
from thermodiff.data import swissroll, toy


def test_npy_npz_csv_load_the_same_array(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3))
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "one.npz", data=x)
    np.savez(tmp_path / "two.npz", data=x, other=x[:5])
    np.savetxt(tmp_path / "a.csv", x, delimiter=",", header="u,v,w", comments="")
    np.savetxt(tmp_path / "plain.csv", x, delimiter=",")
    for path in ("a.npy", "one.npz", "a.csv", "plain.csv"):
        assert np.allclose(load_file(str(tmp_path / path))[0], x), path
    assert np.allclose(load_file(str(tmp_path / "two.npz"), "other")[0], x[:5])
    with pytest.raises(DataError, match="--npz-key"):
        load_file(str(tmp_path / "two.npz"))
    with pytest.raises(DataError, match="no array 'nope'"):
        load_file(str(tmp_path / "two.npz"), "nope")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or infinite"),
        (np.zeros((0, 3)), "empty"),
        (np.arange(5.0), "reshape to \\(N, 1\\)"),
        (np.zeros((2, 3, 4, 5, 6)), "expected shape \\(examples, dimensions\\)"),
        (np.array([["a", "b"]]), "expected numbers"),
    ],
)
def test_bad_arrays_get_one_clear_message(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=message):
        load_file(str(tmp_path / "bad.npy"))


def test_bad_files_get_one_clear_message(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_file(str(tmp_path / "missing.npy"))
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_file(str(tmp_path / "x.txt"))
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match="different numbers of columns"):
        load_file(str(tmp_path / "ragged.csv"))
    (tmp_path / "words.csv").write_text("a,b\n1,zz\n")
    with pytest.raises(DataError, match="must be a number"):
        load_file(str(tmp_path / "words.csv"))
    (tmp_path / "junk.npy").write_bytes(b"not an npy file")
    with pytest.raises(DataError, match="cannot read"):
        load_file(str(tmp_path / "junk.npy"))
    with pytest.raises(DataError, match="neither a built-in"):
        load_dataset(DataConfig(source="nonsense"))


def test_constant_columns_are_refused():
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[:, 1] = 4.0
    with pytest.raises(DataError, match="constant"):
        fit_per_dimension(x)


def test_normalization_and_its_jacobian():
    x = np.random.default_rng(1).normal([1.0, -2.0], [3.0, 0.5], size=(1000, 2))
    norm = fit_per_dimension(x)
    z = norm.forward(x)
    assert np.allclose(z.mean(0), 0, atol=1e-12) and np.allclose(z.std(0), 1)
    assert np.allclose(norm.inverse(z), x)
    assert math.isclose(norm.log2_jacobian((2,)), -np.log2(norm.std).sum())


def test_whitening_is_an_exact_change_of_variables():
    from thermodiff.data import NormalizationKind, fit

    x = np.random.default_rng(2).multivariate_normal([1.0, 2.0, 3.0], [[4, 1.9, 0], [1.9, 1, 0.2], [0, 0.2, 0.5]], size=3000)
    norm = fit(x, NormalizationKind.WHITEN)
    w = norm.forward(x)
    assert np.allclose(np.cov(w.T), np.eye(3), atol=1e-9)
    assert np.allclose(norm.inverse(w), x)
    # log2 |det dw/dz| from a numerical Jacobian of z -> w
    z0 = norm.to_z(x[:1])
    jac = np.stack([(norm.forward(x[:1] + norm.std * e) - norm.forward(x[:1]))[0] for e in np.eye(3)], 1)
    assert np.isclose(np.linalg.slogdet(jac)[1] / np.log(2), norm.log2_det_whitening(), atol=1e-6)
    assert np.allclose(norm.to_z(x), (x - x.mean(0)) / x.std(0)) and z0.shape == (1, 3)


def test_degenerate_data_cannot_be_whitened():
    from thermodiff.data import NormalizationKind, fit

    x = np.random.default_rng(3).normal(size=(200, 2))
    with pytest.raises(DataError, match="subspace"):
        fit(np.c_[x, x[:, 0] + x[:, 1]], NormalizationKind.WHITEN)


def test_split_is_seeded_and_disjoint():
    x = np.arange(100.0)[:, None]
    a_train, a_held = split(x, 0.1, seed=3)
    b_train, b_held = split(x, 0.1, seed=3)
    assert np.array_equal(a_held, b_held) and len(a_held) == 10 and len(a_train) == 90
    assert not set(a_held[:, 0]) & set(a_train[:, 0])


def test_builtin_parameters_parse_and_are_checked():
    ds = load_dataset(DataConfig(source="swissroll:noise=0.1,n=300"))
    assert ds.x.shape == (300, 2) and ds.log_density is not None
    with pytest.raises(DataError, match="unknown parameter"):
        load_dataset(DataConfig(source="swissroll:colour=3"))
    with pytest.raises(DataError, match="key=value"):
        load_dataset(DataConfig(source="swissroll:noise"))


def test_swissroll_density_integrates_to_one():
    noise = 0.3
    axis = np.linspace(-9, 9, 181)  # spacing 0.1: the midpoint rule is exact to ~1e-10 for a width of 0.3
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    mass = np.exp(swissroll.log_density(grid, noise, nodes=4000)).sum() * (axis[1] - axis[0]) ** 2
    assert abs(mass - 1.0) < 1e-3


def test_swissroll_density_matches_a_monte_carlo_over_the_curve():
    """p(x) = E_s[N(x; c(s), noise^2 I)] with s uniform: estimate it with random s, independently
    of the quadrature, at points on, near and off the roll."""
    noise = 0.3
    rng = np.random.default_rng(0)
    points = np.concatenate([swissroll.generate(4, rng, noise), [[0.5, 0.5], [3.0, -2.0]]])
    s = rng.uniform(swissroll.S_MIN, swissroll.S_MAX, size=400_000)
    c = swissroll.curve(s)
    for x, log_p in zip(points, swissroll.log_density(points, noise)):
        k = np.exp(-((x - c) ** 2).sum(1) / (2 * noise**2)) / (2 * math.pi * noise**2)
        assert abs(k.mean() - math.exp(log_p)) < 5 * k.std() / math.sqrt(k.size) + 1e-12, x


def test_toy_densities_are_exact():
    x = toy.gaussian_generate(5, np.random.default_rng(0), 8, 100.0, 1)
    mean, cov = toy.gaussian_parameters(8, 100.0, 1)
    ref = torch.distributions.MultivariateNormal(torch.tensor(mean), torch.tensor(cov)).log_prob(torch.tensor(x))
    assert np.allclose(toy.gaussian_log_density(x, 8, 100.0, 1), ref.numpy())
    assert math.isclose(np.linalg.cond(cov), 100.0, rel_tol=1e-6)
    y = toy.mixture_generate(4, np.random.default_rng(0), 3, 2.0, 0.5)
    centres = toy.mixture_centres(3, 2.0)
    comps = torch.distributions.Normal(torch.tensor(centres), 0.5).log_prob(torch.tensor(y)[:, None, :]).sum(-1)
    ref = torch.logsumexp(comps, 1) - math.log(3)
    assert np.allclose(toy.mixture_log_density(y, 3, 2.0, 0.5), ref.numpy())
