"""torchrun with 2 processes (gloo) gives the same model as one process with the same global batch, and
the same evaluation (importance weights, ODE) as one process with the same seed."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import TINY
from thermodiff.training.checkpoint import load_checkpoint


@pytest.mark.parametrize("process", ["gaussian", "continuous"])
def test_two_processes_match_one(tmp_path, process):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(300, 2)) * [1.0, 3.0])
    common = [str(tmp_path / "x.npy"), "--steps", "15", "--seed", "3", "--process", process, *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "thermodiff", "train", *common, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "thermodiff", "train", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "checkpoint.safetensors")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.safetensors")
    assert a.step == b.step == 15
    for key in a.model:
        assert torch.allclose(a.model[key], b.model[key], rtol=1e-4, atol=1e-5), key
    if process == "gaussian":  # the step statistics (importance sampling, control variates) came from every process
        assert torch.equal(a.model["steps.seen"], b.model["steps.seen"])
    assert (tmp_path / "two" / "evaluation.json").exists()


def test_evaluation_split_across_two_processes_matches_one(tmp_path):
    """--importance-samples and --ode under torchrun: each process scores its share of the examples
    (9: an uneven split), each example's draws depend on the seed and its index only, so the numbers
    are those of one process; K, computed by every process as before, is unchanged too."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(200, 2)) * [1.0, 3.0])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = subprocess.run([sys.executable, "-m", "thermodiff", "train", str(tmp_path / "x.npy"), "--steps", "10",
                            "--out", str(tmp_path / "run"), *TINY], capture_output=True, text=True, env=env, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    args = ["-m", "thermodiff", "evaluate", str(tmp_path / "run"), "--json", "--max-examples", "9",
            "--importance-samples", "5", "--ode", "--ode-exact-dims", "1", "--trajectories", "2"]
    one = subprocess.run([sys.executable, *args, "--per-example", str(tmp_path / "one.npy")], capture_output=True,
                         text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args,
                          "--per-example", str(tmp_path / "two.npy")], capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)  # only the main process prints
    assert a.keys() == b.keys()
    for key in ("K", "stderr", "K_iw", "K_iw_stderr", "ess_mean", "ess_min", "K_iw_minus_K", "log_p_ode", "log_p_ode_stderr"):
        assert b[key] == pytest.approx(a[key], rel=1e-9, abs=1e-9), key
    assert b["K_iw_nested"] == pytest.approx(a["K_iw_nested"], rel=1e-9)
    assert a["ode_divergence"] == "hutchinson"  # the probes, too, follow the example
    # each example's bound lands in its place (the summary alone would not see a permutation)
    assert np.allclose(np.load(tmp_path / "two.npy"), np.load(tmp_path / "one.npy"), rtol=1e-9, atol=1e-9)
