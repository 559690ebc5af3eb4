"""Runs that survive (issue 15): moved directories, failed starts, other people's folders,
preemption (SIGTERM, SIGINT), two processes on one run, crashes mid-write, the umask.

The subprocesses run ``python -m thermodiff`` as a user would; the in-process tests call ``main``.
"""

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import thermodiff
from helpers import TINY
from thermodiff.cli import build_parser, main
from thermodiff.cli.train import prepare
from thermodiff.training import distributed
from thermodiff.training.checkpoint import load_checkpoint
from thermodiff.training.loop import TrainCallbacks, Trainer

TINY_IMAGES = ["--T", "20", "--channels", "8", "--multiscale-layers", "1", "--pointwise-layers", "1", "--time-bumps", "4",
               "--norm-groups", "2", "--batch-size", "16", "--eval-every", "50", "--eval-examples", "16", "--steps", "4",
               "--heldout-fraction", "0.2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def thermodiff_cli(*args, cwd=None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "thermodiff", *map(str, args)], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the process ended before {path} appeared:\n{process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_checkpoint(a / "checkpoint.safetensors"), load_checkpoint(b / "checkpoint.safetensors")
    return x.step == y.step and all(torch.equal(x.model[k], y.model[k]) for k in x.model) and all(
        torch.equal(x.ema[k], y.ema[k]) for k in x.ema)


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    np.save(root / "data" / "x.npy", rng.normal(size=(300, 2)) * [1.0, 3.0])
    np.save(root / "data" / "y.npy", rng.normal(size=(300, 2)) + [5.0, 0.0])
    np.save(root / "data" / "img.npy", rng.integers(0, 256, size=(60, 1, 8, 8), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def whole(root):
    """The uninterrupted 30-step run that interrupted ones are compared with."""
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(root / "whole"), "--steps", "30", *TINY]) == 0
    return root / "whole"


# -- 1. a run is self-contained; resume accepts the same data by any path ---------------------------
def test_a_run_works_from_any_directory(root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(root)
    assert main(["train", "data/img.npy", "--out", "runs/img", *TINY_IMAGES]) == 0
    monkeypatch.chdir(tmp_path)
    run = str(root / "runs" / "img")
    observed = np.zeros((1, 8, 8), dtype=np.uint8)
    np.save("obs.npy", observed)
    np.save("mask.npy", np.concatenate([np.ones((1, 4, 8)), np.zeros((1, 4, 8))], axis=1))
    for argv in (["evaluate", run, "--parzen", "--t-samples", "2"], ["sample", run, "--n", "2", "--out", "s.npy"],
                 ["plot", run, "--kind", "denoise", "--out", "d.png"], ["plot", run, "--kind", "inpaint", "--out", "i.png"],
                 ["inpaint", run, "--data", "obs.npy", "--mask", "mask.npy", "--n-samples", "2", "--out", "f.npy"],
                 ["denoise", run, "--data", "obs.npy", "--noise-std", "9", "--n-samples", "2", "--out", "c.npy"]):
        capsys.readouterr()
        assert main(argv) == 0, (argv, capsys.readouterr().err)


def test_resume_accepts_the_same_data_by_any_path_and_refuses_other_data(root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(root)
    assert main(["train", "data/x.npy", "--out", "runs/x", "--steps", "10", *TINY]) == 0
    assert main(["train", "./data/x.npy", "--out", "runs/x", "--resume", "--steps", "12"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(root / "runs" / "x"), "--resume", "--steps", "14"]) == 0
    shutil.copy(root / "data" / "x.npy", tmp_path / "copy.npy")
    assert main(["train", "copy.npy", "--out", str(root / "runs" / "x"), "--resume", "--steps", "16"]) == 0
    capsys.readouterr()
    assert main(["train", str(root / "data" / "y.npy"), "--out", str(root / "runs" / "x"), "--resume", "--steps", "18"]) == 2
    assert "other data" in capsys.readouterr().err
    assert load_checkpoint(root / "runs" / "x" / "checkpoint.safetensors").step == 16


# -- 2. a failed start leaves nothing behind --------------------------------------------------------
def test_a_start_that_fails_leaves_nothing_that_blocks_a_retry(root, tmp_path, monkeypatch):
    def fail(self, progress):
        raise RuntimeError("the first step failed")

    out = tmp_path / "x"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "train_step", fail)
        with pytest.raises(RuntimeError, match="first step"):
            main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--steps", "5", *TINY])
    assert not out.exists()
    for bad in (["--network", "multiscale"], ["--beta-1", "2"], ["--bumps", "0"]):
        assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--steps", "5", *TINY, *bad]) == 2
        assert not out.exists(), bad
    (tmp_path / f".x.tmp-{dead_pid()}").mkdir()  # what a start killed mid-way leaves
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--steps", "5", *TINY]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


# -- 3. other people's folders and other runs' checkpoints ------------------------------------------
def test_a_folder_that_is_not_a_run_is_left_alone(root, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "heldout.npy").write_text("precious")
    capsys.readouterr()
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(mine), "--steps", "5", *TINY]) == 2
    assert "not a run" in capsys.readouterr().err
    assert (mine / "heldout.npy").read_text() == "precious" and [p.name for p in mine.iterdir()] == ["heldout.npy"]
    (tmp_path / "empty").mkdir()  # an empty folder is fine
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(tmp_path / "empty"), "--steps", "5", *TINY]) == 0


def test_a_checkpoint_of_another_run_is_refused(root, whole, tmp_path, capsys):
    other = tmp_path / "other"  # same network, other data: the weights would load without complaint
    assert main(["train", str(root / "data" / "y.npy"), "--out", str(other), "--steps", "5", *TINY]) == 0
    for name in ("checkpoint.safetensors", "checkpoint.prev.safetensors"):
        shutil.copy(whole / name, other / name)
    capsys.readouterr()
    assert main(["evaluate", str(other)]) == 2
    assert "another run" in capsys.readouterr().err
    assert main(["train", str(root / "data" / "y.npy"), "--out", str(other), "--resume", "--steps", "40"]) == 2
    assert "another run" in capsys.readouterr().err


# -- 4. SIGTERM and SIGINT: finish the step, checkpoint, say how to resume, exit non-zero ----------
class SignalAt(TrainCallbacks):
    def __init__(self, step, signum):
        self.step, self.signum = step, signum

    def on_step(self, step, running_K):
        if step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_after_the_step_and_the_resumed_run_is_the_uninterrupted_one(root, whole, tmp_path, signum):
    parts = tmp_path / "parts"
    args = build_parser().parse_args(["train", str(root / "data" / "x.npy"), "--out", str(parts), "--steps", "30", *TINY])
    run, splits = prepare(args)
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)]
    outcome, evaluation = run.train(distributed.init(), SignalAt(13, signum), splits=splits)
    assert outcome.stopped_by == "interrupt" and outcome.signal == signum and evaluation is None
    assert load_checkpoint(parts / "checkpoint.safetensors").step == 13  # not a multiple of --checkpoint-every 10
    assert [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)] == before  # handlers put back
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(parts), "--resume"]) == 0
    assert same_weights(whole, parts)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_preempted_process_loses_no_step_and_says_how_to_resume(root, tmp_path, signum, code):
    out = tmp_path / "run"
    process = thermodiff_cli("train", root / "data" / "x.npy", "--out", out, "--steps", "100000", "--eval-every", "5",
                             "--checkpoint-every", "100000", *TINY[:8], start_new_session=True)
    wait_for(out / "metrics.jsonl", process)
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr[-2000:]
    step = load_checkpoint(out / "checkpoint.safetensors").step
    assert step >= 5 and f"{step} steps" in stdout and f"interrupted at step {step}" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not (out / "train.lock").exists()


# -- 5. one training process per run ----------------------------------------------------------------
def test_a_second_process_on_a_run_is_refused_while_the_first_lives(root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--steps", "5", *TINY]) == 0
    first = thermodiff_cli("train", root / "data" / "x.npy", "--out", out, "--resume", "--steps", "100000",
                           "--eval-every", "5")
    wait_for(out / "train.lock", first)
    capsys.readouterr()
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--resume", "--steps", "100000"]) == 2
    err = capsys.readouterr().err
    assert "being trained by another process" in err and f"pid {first.pid}" in err
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert not (out / "train.lock").exists()  # released on exit
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--resume", "--steps", "8"]) == 0


def test_a_stale_lock_is_taken_over_and_a_live_holder_is_not(root, tmp_path, capsys):
    import socket

    out = tmp_path / "run"
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--steps", "5", *TINY]) == 0
    host = socket.gethostname()
    (out / "train.lock").write_text(json.dumps({"pid": dead_pid(), "host": host, "since": "then"}))
    capsys.readouterr()
    assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--resume", "--steps", "6"]) == 0
    assert "took over the lock" in capsys.readouterr().err and not (out / "train.lock").exists()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a live process named in the lock (as on a file system whose flock does not reach us)
        (out / "train.lock").write_text(json.dumps({"pid": sleeper.pid, "host": host, "since": "now"}))
        assert main(["train", str(root / "data" / "x.npy"), "--out", str(out), "--resume", "--steps", "7"]) == 2
        assert f"pid {sleeper.pid}" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()


# -- 6. crashes mid-write: stale temporaries, the previous checkpoint --------------------------------
def test_stale_temporaries_are_removed_and_a_broken_latest_checkpoint_falls_back(whole, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    dead, sleeper = dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name in (f".checkpoint.safetensors.tmp-{dead}", f".config.json.tmp-{dead}",
                     f".checkpoint.safetensors.tmp-{sleeper.pid}"):
            (run / name).write_bytes(b"half a file")
        thermodiff.Run.open(run)
        assert sorted(p.name for p in run.glob(".*")) == [f".checkpoint.safetensors.tmp-{sleeper.pid}"]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert load_checkpoint(run / "checkpoint.prev.safetensors").step <= 30
    blob = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").write_bytes(blob[: len(blob) // 2])
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "using the previous checkpoint" in capsys.readouterr().err


def test_a_checkpoint_write_flushes_the_directory_and_keeps_the_previous(whole, tmp_path, monkeypatch):
    from thermodiff import disk

    flushed = []
    monkeypatch.setattr(disk, "fsync_directory", lambda path: flushed.append(Path(path)))
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    state = load_checkpoint(run / "checkpoint.safetensors")
    model = thermodiff.Run.open(run).build_model()
    optimizer = torch.optim.Adam(model.parameters())
    from thermodiff.training.checkpoint import save_checkpoint

    save_checkpoint(run / "checkpoint.safetensors", 31, model, copy.deepcopy(model), optimizer, 0)
    assert flushed == [run]
    assert load_checkpoint(run / "checkpoint.safetensors").step == 31
    assert load_checkpoint(run / "checkpoint.prev.safetensors").step == state.step


# -- 11. files follow the umask ------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_run_files_follow_the_umask(root, tmp_path, mask):
    old = os.umask(mask)
    try:
        assert main(["train", str(root / "data" / "x.npy"), "--out", str(tmp_path / "run"), "--steps", "20", *TINY]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~mask
    for path in (tmp_path / "run").iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name
