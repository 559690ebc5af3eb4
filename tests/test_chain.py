"""A continuous-time run's N-step chain shaped by its denoising profile: the grid is the exact
optimum of the expected bound, the analytic variance makes the chain exact on Gaussian data for any
N, the profile is measured on training data once per checkpoint and stored in the run."""

import itertools
import json
import math

import numpy as np
import pytest
import torch

from test_continuous import OptimalXHat, _exact_minus_K, continuous_run  # noqa: F401  (a fixture)
from thermodiff.cli import main
from thermodiff.equations import continuous as c
from thermodiff.evaluation.estimate import estimate_bound
from thermodiff.evaluation.profile import measure_profile
from thermodiff.model import DiffusionModel
from thermodiff.processes import DiffusionConfig, make_process
from thermodiff.processes.continuous import DenoisingProfile
from thermodiff.run import Run


def _path_cost(gamma, mse, path):
    return sum(float(c.expected_step_kl(gamma[i], gamma[j], mse[j], 1)) for i, j in zip(path, path[1:]))


def test_the_grid_is_the_exact_optimum_over_every_choice_of_candidates():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        gamma = torch.cumsum(torch.rand(10, generator=gen, dtype=torch.float64) * 3, 0) - 12.0
        mse = torch.rand(10, generator=gen, dtype=torch.float64) * torch.exp(gamma).clamp(max=1.0)
        for N in (1, 3, 5, 9):
            best = c.best_grid(gamma, mse, N).tolist()
            assert best[0] == 0 and best[-1] == 9 and len(best) == N + 1 and best == sorted(set(best))
            brute = min(_path_cost(gamma, mse, [0, *inner, 9]) for inner in itertools.combinations(range(1, 9), N - 1))
            assert _path_cost(gamma, mse, best) == pytest.approx(brute, rel=1e-12)


def _gaussian(v=0.7):
    """Data N(m, v I) (one variance for every dimension: the analytic variance is one number per
    step) and the optimal x_hat; and its exact error profile v sigma^2 / (alpha^2 v + sigma^2)."""
    process = make_process(DiffusionConfig(process="continuous", T=50, gamma_0=-9.0, gamma_1=6.0))
    m, var = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64), torch.full((3,), v, dtype=torch.float64)
    model = DiffusionModel(process, OptimalXHat(process.schedule, m, var)).double()
    times = torch.linspace(0.0, 1.0, 401, dtype=torch.float64)
    with torch.no_grad():
        gamma = process.schedule.gamma(times)
    alpha2, sigma2 = torch.sigmoid(-gamma), torch.sigmoid(gamma)
    return model, m, var, DenoisingProfile(times=times, mse=v * sigma2 / (alpha2 * v + sigma2))


def test_the_profile_measured_on_data_is_the_error_of_x_hat():
    model, m, var, exact = _gaussian()
    x = m + var.sqrt() * torch.randn(4000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    measured = measure_profile(model, x, torch.Generator().manual_seed(2), candidates=400)
    assert torch.equal(measured.times, exact.times)
    assert torch.allclose(measured.mse, exact.mse, rtol=0.06)  # 12000 squared errors per time


def test_with_the_exact_profile_every_N_step_chain_keeps_the_continuous_bound_on_gaussian_data():
    """With x_hat = E[x | z_t] and the analytic variance beta_tilde + c_x0^2 Var[x | z_t], each step
    is the data's own reverse conditional, so the N-step bound does not depend on N: it equals the
    continuous one, while the posterior's variance loses a lot with few steps."""
    model, m, var, profile = _gaussian()
    continuous = _exact_minus_K(model.process, m, var)
    x = m + var.sqrt() * torch.randn(3000, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for N in (2, 7, 60, 400, 1000):
        chain = model.with_steps(N, profile)
        est = estimate_bound(chain, x, torch.Generator().manual_seed(N), trajectories=2, t_samples=0)
        minus_K = -est.K * math.log(2)
        se = float(minus_K.std()) / math.sqrt(minus_K.numel())
        assert float(minus_K.mean()) == pytest.approx(continuous, abs=3 * se + 1e-3), N
    fixed = -estimate_bound(model.with_steps(7), x, torch.Generator().manual_seed(4), trajectories=2, t_samples=0).K
    assert float(fixed.mean()) * math.log(2) > continuous + 1.0  # seven steps of the posterior's variance


def test_fewer_steps_cost_less_with_the_profile_than_without(continuous_run):  # noqa: F811
    """On a trained run the profiled chain's bound (scored on held-out data; profile from training
    data) is tighter than the uniform chain with the posterior's variance, at few steps."""
    run = Run.open(continuous_run / "run")
    x = run.heldout()
    shaped = run.evaluate(x, steps=6, t_samples=0).estimate.K
    w = torch.as_tensor(run.coordinates.to_model(x), dtype=torch.float64)
    plain = estimate_bound(run.load_model().with_steps(6), w, torch.Generator().manual_seed(0), trajectories=2, t_samples=0).K
    gain = shaped - plain  # the same examples: paired
    assert float(gain.mean()) > 3 * float(gain.std()) / math.sqrt(gain.numel())


def test_the_profile_is_measured_once_per_checkpoint_and_kept_in_the_run(continuous_run, capsys, tmp_path):  # noqa: F811
    run_dir = continuous_run / "run"
    (run_dir / "denoising_profile.json").unlink(missing_ok=True)
    assert main(["evaluate", str(run_dir), "--json", "--steps", "5", "--t-samples", "0"]) == 0
    stored = json.loads((run_dir / "denoising_profile.json").read_text())
    assert stored["examples"] == 128 and len(stored["times"]) == len(stored["mse"]) == 1001
    first = json.loads(capsys.readouterr().out)["K"]
    stamp = (run_dir / "denoising_profile.json").stat().st_mtime_ns
    assert main(["evaluate", str(run_dir), "--json", "--steps", "5", "--t-samples", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["K"] == first  # the same chain, from the stored profile
    assert (run_dir / "denoising_profile.json").stat().st_mtime_ns == stamp
    stored["weights"] = "other weights"
    (run_dir / "denoising_profile.json").write_text(json.dumps(stored))
    assert Run.open(run_dir).denoising_profile() is not None  # measured again for these weights
    assert json.loads((run_dir / "denoising_profile.json").read_text())["weights"] != "other weights"


def test_a_run_that_cannot_keep_its_profile_or_find_its_data_still_samples(continuous_run, tmp_path, monkeypatch, capsys):  # noqa: F811
    """A read-only run directory keeps the profile in memory; without the training data the chain
    falls back, with one warning, to uniform times and the posterior's variance."""
    from thermodiff import record
    from thermodiff.errors import CheckpointError

    run = Run.open(continuous_run / "run")
    (run.path / "denoising_profile.json").unlink(missing_ok=True)

    def refuse(path, data):
        raise CheckpointError(f"cannot write {path}")

    with monkeypatch.context() as patch:
        patch.setattr(record, "atomic_write_bytes", refuse)
        assert run.denoising_profile() is not None and run.sample(3, steps=4).shape == (3, 2)
    assert not (run.path / "denoising_profile.json").exists()

    x = np.random.default_rng(2).normal(size=(120, 2))
    np.save(tmp_path / "x.npy", x)
    assert main(["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "run"), "--process", "continuous",
                 "--steps", "5", "--width", "16", "--depth", "1", "--bumps", "4", "--batch-size", "32",
                 "--eval-examples", "16"]) == 0
    (tmp_path / "x.npy").unlink()
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--n", "4", "--steps", "3", "--out", str(tmp_path / "s.npy")]) == 0
    err = capsys.readouterr().err
    assert "uniform times and the posterior's variance" in err and np.load(tmp_path / "s.npy").shape == (4, 2)


def test_the_profiled_chain_draws_its_steps_by_their_expected_kls():
    """Evaluation samples a few of the chain's steps: drawn in proportion to the steps' expected KLs
    (known from the profile) their Monte Carlo noise is far below that of uniform draws."""
    model, m, var, profile = _gaussian()
    chain = model.with_steps(200, profile)
    x = m + var.sqrt() * torch.randn(400, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    shaped = estimate_bound(chain, x, torch.Generator().manual_seed(6), trajectories=4, t_samples=8)
    chain.steps.seen.zero_()  # statistics never seen: uniform draws
    uniform = estimate_bound(chain, x, torch.Generator().manual_seed(6), trajectories=4, t_samples=8)
    assert shaped.mc_stderr_per_example() < 0.5 * uniform.mc_stderr_per_example()
