"""The command line end to end, on tiny settings (seconds, not minutes)."""

import json

import numpy as np
import pytest

from helpers import TINY
from thermodiff.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    x = np.random.default_rng(0).multivariate_normal([1.0, -2.0, 5.0], [[4, 1, 0], [1, 1, 0], [0, 0, 0.25]], size=400)
    np.save(root / "data.npy", x)
    assert main(["train", str(root / "data.npy"), "--out", str(root / "run"), "--steps", "40", *TINY]) == 0
    return root


def test_train_writes_a_complete_run(trained):
    run = trained / "run"
    for name in ("config.json", "heldout.npy", "checkpoint.safetensors", "metrics.jsonl", "evaluation.json"):
        assert (run / name).exists(), name
    assert np.load(run / "heldout.npy").shape == (40, 3)
    record = json.loads((run / "evaluation.json").read_text())
    assert record["step"] == 40 and record["n_examples"] == 40


def test_evaluate_json_has_the_promised_keys(trained, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(trained / "run"), "--json", "--trajectories", "2", "--t-samples", "0"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in ("K", "K_data", "K_minus_L_null", "stderr", "n_examples", "units"):
        assert key in record, key
    assert record["units"] == "bits/example" and record["n_examples"] == 40
    # K_data = K + log2 |Jacobian| of the z-scoring (std of the training split)
    config = json.loads((trained / "run" / "config.json").read_text())
    jac = -np.log2(config["normalization"]["std"]).sum()
    assert abs(record["K_data"] - (record["K"] + jac)) < 1e-9
    assert abs(record["K_minus_L_null"] - (record["K"] - record["L_null"])) < 1e-9


def test_per_example_bounds_average_to_K_data(trained, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "pe.npy"
    assert main(["evaluate", str(trained / "run"), "--data", str(trained / "data.npy"), "--json",
                 "--per-example", str(out), "--trajectories", "2", "--max-examples", "50"]) == 0
    record = json.loads(capsys.readouterr().out)
    per = np.load(out)
    assert per.shape == (50,) and abs(per.mean() - record["K_data"]) < 1e-9


def test_sample_writes_data_coordinates(trained, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(trained / "run"), "--n", "30", "--out", str(out)]) == 0
    s = np.load(out)
    assert s.shape == (30, 3) and np.isfinite(s).all()
    assert abs(s[:, 2].mean() - 5.0) < 3.0  # in the data's coordinates, not z-scored


def test_plots_are_written(trained, tmp_path):
    for kind in ("trajectories", "entropy"):
        out = tmp_path / f"{kind}.png"
        assert main(["plot", str(trained / "run"), "--out", str(out), "--kind", kind]) == 0
        assert out.stat().st_size > 10_000


def test_existing_run_needs_resume(trained, capsys):
    capsys.readouterr()
    assert main(["train", str(trained / "data.npy"), "--out", str(trained / "run"), "--steps", "41", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_refuses_to_change_the_model(trained, capsys):
    capsys.readouterr()
    assert main(["train", str(trained / "data.npy"), "--out", str(trained / "run"), "--resume", "--width", "64"]) == 2
    assert "width" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "nothing.npy", "--out", "X"], "no such file"),
        (["train", "swissroll", "--out", "X", "--heldout-fraction", "1.5"], "heldout_fraction"),
        (["evaluate", "not-a-run"], "not a thermodiff run"),
        (["train", "swissroll", "--out", "X", "--T", "1"], "T must be at least 2"),
    ],
)
def test_bad_input_gets_one_clear_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "X" / "config.json").exists()


def test_evaluate_refuses_data_of_another_shape(trained, tmp_path, capsys):
    np.save(tmp_path / "wrong.npy", np.zeros((5, 2)))
    assert main(["evaluate", str(trained / "run"), "--data", str(tmp_path / "wrong.npy")]) == 2
    assert "shape" in capsys.readouterr().err


def test_demo_runs_end_to_end_on_a_short_budget(tmp_path, capsys):
    """The main job: train on the Swiss roll, report the bound next to the truth, write both figures."""
    assert main(["demo", "--out", str(tmp_path), "--time-limit", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "true log-likelihood" in out and "gap" in out and "demo finished" in out
    for kind in ("trajectories", "entropy"):
        assert (tmp_path / f"swissroll_{kind}.png").stat().st_size > 10_000
