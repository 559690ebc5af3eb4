"""Checkpoints: round trip, resume reproduces the uninterrupted run, bad files are refused."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from helpers import TINY
from thermodiff.training.checkpoint import CheckpointError, load_checkpoint
from thermodiff.training import distributed
from thermodiff.cli import build_parser, main
from thermodiff.cli.train import prepare
from thermodiff.run import Run
from thermodiff.training.loop import TrainCallbacks


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    np.save(root / "x.npy", np.random.default_rng(0).normal(size=(300, 2)) * [1.0, 3.0])
    return root


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint.safetensors")


class InterruptAt(TrainCallbacks):
    def __init__(self, step):
        self.step = step

    def on_step(self, step, running_K):
        if step == self.step:
            raise KeyboardInterrupt


def test_resume_reproduces_the_uninterrupted_run(data):
    """A run interrupted at step 13 (Ctrl-C: it checkpoints and stops) and resumed ends with the
    very same weights as the run that was never interrupted."""
    whole, parts = data / "whole", data / "parts"
    assert main(["train", str(data / "x.npy"), "--out", str(whole), "--steps", "30", *TINY]) == 0
    args = build_parser().parse_args(["train", str(data / "x.npy"), "--out", str(parts), "--steps", "30", *TINY])
    run, splits = prepare(args)
    outcome, _ = run.train(distributed.init(), InterruptAt(13), splits=splits)
    assert outcome.stopped_by == "interrupt" and _weights(parts).step == 13
    assert main(["train", str(data / "x.npy"), "--out", str(parts), "--resume"]) == 0
    a, b = _weights(whole), _weights(parts)
    assert a.step == b.step == 30
    for key in a.model:
        assert torch.equal(a.model[key], b.model[key]), key
    for key in a.ema:
        assert torch.equal(a.ema[key], b.ema[key]), key


def test_round_trip_loads_the_same_model(data):
    run = Run.open(data / "whole")
    model = run.load_model()
    state = _weights(data / "whole")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state.ema[key]), key


def test_truncated_checkpoint_is_a_clear_error(data, tmp_path):
    blob = (data / "whole" / "checkpoint.safetensors").read_bytes()
    bad = tmp_path / "checkpoint.safetensors"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(bad)


def test_foreign_safetensors_is_refused(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    save_file({"w": torch.zeros(3)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(CheckpointError, match="not a thermodiff checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"\x80\x04\x95pickle-ish junk")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_evaluate_reports_a_broken_checkpoint_without_a_traceback(data, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(data / "whole", copy)
    blob = (copy / "checkpoint.safetensors").read_bytes()
    (copy / "checkpoint.safetensors").write_bytes(blob[:100])
    (copy / "checkpoint.prev.safetensors").unlink()  # nothing to fall back to (test_robustness.py: the fallback)
    capsys.readouterr()
    assert main(["evaluate", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and "Traceback" not in err
