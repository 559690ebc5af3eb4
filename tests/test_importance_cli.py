"""`evaluate --importance-samples` / `--ode` and `plot --kind importance` end to end on tiny runs: the
new keys appear beside K, K itself does not move, bad settings get one clear message."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import thermodiff
from helpers import TINY
from thermodiff.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "runs-v1"
IW_KEYS = ("K_iw", "K_iw_data", "K_iw_stderr", "importance_samples", "ess_mean", "ess_min", "iw_degenerate",
           "K_iw_nested", "K_iw_nested_stderr", "K_iw_minus_K", "K_iw_minus_K_stderr", "ess_below_2", "K_iw_last_gain",
           "K_iw_last_gain_stderr", "K_iw_last_gain_from", "K_iw_still_rising")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("iw")
    x = np.random.default_rng(0).multivariate_normal([1.0, -2.0, 5.0], [[4, 1, 0], [1, 1, 0], [0, 0, 0.25]], size=300)
    np.save(root / "data.npy", x)
    assert main(["train", str(root / "data.npy"), "--out", str(root / "vec"), "--steps", "30", *TINY]) == 0
    assert main(["train", "heartbeat:n=300,length=10,period=5", "--out", str(root / "hb"), "--steps", "20",
                 "--validation-fraction", "0", *TINY]) == 0
    return root


def evaluate_json(capsys, *args):
    capsys.readouterr()
    assert main(["evaluate", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_importance_keys_sit_beside_an_unchanged_K(runs, capsys, tmp_path):
    common = [runs / "vec", "--max-examples", "12", "--trajectories", "2", "--t-samples", "0"]
    plain = evaluate_json(capsys, *common)
    record = evaluate_json(capsys, *common, "--importance-samples", "6", "--per-example", tmp_path / "iw.npy")
    for key, value in plain.items():  # K and every key it had keep their values
        assert record[key] == value or (value != value and record[key] != record[key]), key
    for key in IW_KEYS:
        assert key in record, key
    assert record["importance_samples"] == 6 and set(record["K_iw_nested"]) == {"1", "2", "4", "6"}
    assert 1.0 <= record["ess_min"] <= record["ess_mean"] <= 6.0
    # whitened data: K_iw moves to the data's coordinates by the same Jacobian as K
    assert record["K_iw_data"] - record["K_iw"] == pytest.approx(record["K_data"] - record["K"], abs=1e-9)
    per = np.load(tmp_path / "iw.npy")  # the importance-weighted bound per example, K_data's coordinates
    assert per.shape == (12,) and per.mean() == pytest.approx(record["K_iw_data"], abs=1e-9)


def test_binary_runs_get_the_importance_weighted_bound_and_refuse_the_ode(runs, capsys):
    record = evaluate_json(capsys, runs / "hb", "--max-examples", "8", "--importance-samples", "4")
    assert np.isfinite(record["K_iw"]) and "gap_iw" in record and record["K_iw_data"] == record["K_iw"]
    capsys.readouterr()
    assert main(["evaluate", str(runs / "hb"), "--ode"]) == 2
    err = capsys.readouterr().err
    assert "Gaussian diffusion only" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_ode_is_reported_under_its_own_keys(runs, capsys):
    record = evaluate_json(capsys, runs / "vec", "--max-examples", "5", "--ode")
    assert np.isfinite(record["log_p_ode"]) and record["ode_divergence"] == "exact"
    assert record["log_p_ode_data"] - record["log_p_ode"] == pytest.approx(record["K_data"] - record["K"], abs=1e-9)
    assert main(["evaluate", str(runs / "vec"), "--max-examples", "5", "--ode"]) == 0
    assert "different" in capsys.readouterr().out  # the text says whose density it is


@pytest.mark.parametrize("k", ["0", "-2"])
def test_nonpositive_importance_samples_get_one_clear_message(runs, capsys, k):
    capsys.readouterr()
    assert main(["evaluate", str(runs / "vec"), "--importance-samples", k]) == 2
    err = capsys.readouterr().err
    assert "importance samples must be at least 1" in err and len(err.strip().splitlines()) == 1


def test_the_api_takes_the_same_settings(runs):
    run = thermodiff.Run.open(runs / "vec")
    evaluation = run.evaluate(run.heldout()[:4], importance_samples=2, trajectories=2)
    assert evaluation.importance.log_w.shape == (4, 2) and "K_iw" in evaluation.summary()
    # whitened data: the weights move to the paper's z-scored coordinates by log2 |det W|, as K does
    assert evaluation.importance.offset == run.normalization.log2_det_whitening() != 0.0
    with pytest.raises(thermodiff.ConfigError, match="unknown evaluation settings"):
        run.evaluate(importance_sample=2)
    with pytest.raises(thermodiff.ConfigError, match="at least 1"):
        run.evaluate(importance_samples=0)


def test_the_importance_figure(runs, tmp_path, capsys):
    out = tmp_path / "iw.png"
    assert main(["plot", str(runs / "vec"), "--kind", "importance", "--out", str(out), "--importance-samples", "4",
                 "--max-examples", "10"]) == 0
    assert out.exists() and out.stat().st_size > 1000
    assert "K_iw (k = 4" in capsys.readouterr().out


def test_old_image_runs_get_bits_per_dimension_for_both(tmp_path, capsys, monkeypatch):
    """Discrete images (dequantized as for K): bits/dim of the importance-weighted bound and of the
    ODE's model (Hutchinson's divergence above 16 dimensions), K's keys as the fixture expects."""
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    record = evaluate_json(capsys, tmp_path / "images", "--max-examples", "6", "--importance-samples", "2", "--ode",
                           "--ode-tolerance", "1e-3")
    expected = json.loads((FIXTURES / "expected-images.json").read_text())
    for key in ("K", "K_data", "stderr", "bits_per_dim"):
        assert record[key] == pytest.approx(expected[key], rel=1e-9), key
    assert record["units"] == "bits/pixel" and record["ode_divergence"] == "hutchinson"
    assert record["bits_per_dim_iw"] > 0 and record["bits_per_dim_ode"] > 0 and record["bits_per_dim_iw_stderr"] > 0
