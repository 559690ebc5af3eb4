"""torchrun with 2 processes (gloo) gives the same model as one process with the same global batch."""

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
