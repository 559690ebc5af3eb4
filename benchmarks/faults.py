"""Fault injection: training runs killed at random moments, then resumed to the end.

Each trial starts a small run (``--checkpoint-every 1``) and kills it with SIGKILL (``kill -9``) at
a moment drawn uniformly over an uninterrupted run's wall time; then it resumes it, sends that
process SIGTERM (what a scheduler sends before preemption) at another random moment, with
checkpoints only at the end (``--checkpoint-every`` beyond the run), and resumes it once more to
the end. It counts:
- resumed: trials whose ``--resume`` calls all succeeded (a kill before the run existed starts over);
- unreadable: checkpoints that could not be read after a kill (the latest, or the fallback used);
- steps lost on SIGTERM: the step the process reported as done minus the step saved;
- equal: trials whose final weights (model and moving average) equal the uninterrupted run's.

    python benchmarks/faults.py --trials 30

A short version (one trial of 30 steps) runs in the test suite (tests/test_faults.py).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from thermodiff.errors import CheckpointError
from thermodiff.training.checkpoint import load_checkpoint, read_checkpoint

SMALL = ["--T", "20", "--width", "32", "--depth", "1", "--bumps", "4", "--batch-size", "64", "--eval-every", "1000",
         "--eval-examples", "32", "--seed", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


@dataclass
class Tally:
    trials: int = 0
    resumed: int = 0
    started_over: int = 0  # killed before the run directory existed
    unreadable: int = 0
    fallbacks: int = 0  # the latest checkpoint could not be read and the previous one was used
    sigterm_lost: list[int] = field(default_factory=list)
    equal: int = 0


def train(data: Path, out: Path, steps: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "thermodiff", "train", str(data), "--out", str(out),
                             "--steps", str(steps), *SMALL, *extra], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


def signal_at(process: subprocess.Popen, seconds: float, signum: int) -> tuple[int, str, str]:
    """Send ``signum`` after ``seconds`` (if the process still runs), then wait for it."""
    try:
        process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


def appears(path: Path, process: subprocess.Popen) -> float:
    """Seconds until ``path`` exists (or the process ends)."""
    started = time.monotonic()
    while not path.exists() and process.poll() is None:
        time.sleep(0.01)
    return time.monotonic() - started


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_checkpoint(a / "checkpoint.safetensors"), load_checkpoint(b / "checkpoint.safetensors")
    return x.step == y.step and all(torch.equal(x.model[k], y.model[k]) for k in x.model) and all(
        torch.equal(x.ema[k], y.ema[k]) for k in x.ema)


def after_kill(run: Path, tally: Tally) -> None:
    """Count an unreadable checkpoint left by a kill (none saved yet is not one)."""
    latest = run / "checkpoint.safetensors"
    try:
        load_checkpoint(latest)
    except CheckpointError:
        if not latest.exists() and not (run / "checkpoint.prev.safetensors").exists():
            return
        tally.fallbacks += 1
        try:
            read_checkpoint(latest)
        except CheckpointError:
            tally.unreadable += 1


def resume(data: Path, run: Path, steps: int, *extra: str) -> subprocess.Popen:
    if not (run / "config.json").exists():  # killed before the run existed: a new start, as a user would
        return train(data, run, steps, *extra)
    return train(data, run, steps, "--resume", *extra)


def trial(data: Path, run: Path, steps: int, wall: float, training: float, rng: random.Random, tally: Tally) -> None:
    tally.trials += 1
    signal_at(train(data, run, steps, "--checkpoint-every", "1"), rng.uniform(0, wall), signal.SIGKILL)
    if not (run / "config.json").exists():
        tally.started_over += 1
    after_kill(run, tally)
    process = resume(data, run, steps, "--checkpoint-every", str(10 * steps))
    appears(run / "train.lock", process)  # SIGTERM while it trains: drawn over an uninterrupted run's training
    code, _, stderr = signal_at(process, rng.uniform(0, training), signal.SIGTERM)
    ok = code in (0, 128 + signal.SIGTERM, -signal.SIGTERM)  # -SIGTERM: ended before its handler was set
    done = re.search(r"interrupted at step (\d+)", stderr)
    if done:
        tally.sigterm_lost.append(int(done.group(1)) - load_checkpoint(run / "checkpoint.safetensors").step)
    code, _, stderr = finish(resume(data, run, steps))
    if ok and code == 0:
        tally.resumed += 1
    else:
        print(f"  trial {tally.trials}: resume failed: {stderr.strip().splitlines()[-1:]}", flush=True)
    tally.equal += (run / "checkpoint.safetensors").exists() and same_weights(run, run.parent / "whole")


def make_data(root: Path) -> Path:
    import numpy as np

    path = root / "x.npy"
    np.save(path, np.random.default_rng(0).normal(size=(400, 2)) * [1.0, 3.0])
    return path


def faults(trials: int, steps: int, seed: int, root: Path) -> Tally:
    data = make_data(root)
    started = time.monotonic()
    process = train(data, root / "whole", steps, "--checkpoint-every", "1")
    startup = appears(root / "whole" / "checkpoint.safetensors", process)
    code, _, stderr = finish(process)
    if code != 0:
        sys.exit(f"the uninterrupted run failed:\n{stderr[-3000:]}")
    wall = time.monotonic() - started
    print(f"uninterrupted run: {steps} steps in {wall:.1f} s ({startup:.1f} s to its first checkpoint); kill -9 "
          f"drawn uniformly in [0, {wall:.1f}] s, SIGTERM in [0, {wall - startup:.1f}] s of training", flush=True)
    rng, tally = random.Random(seed), Tally()
    for i in range(trials):
        trial(data, root / f"trial{i}", steps, wall, wall - startup, rng, tally)
    return tally


def report(tally: Tally) -> list[str]:
    lost = tally.sigterm_lost
    return [f"trials (kill -9, then SIGTERM, then resume)  {tally.trials}",
            f"resumed to the end                          {tally.resumed} / {tally.trials} "
            f"({tally.started_over} killed before the run existed: started over)",
            f"unreadable checkpoints after kill -9 (target 0)  {tally.unreadable} "
            f"(latest unreadable, previous used: {tally.fallbacks})",
            f"steps lost on SIGTERM (target 0)            {sum(lost)} over {len(lost)} interrupted processes",
            f"final weights equal to the uninterrupted run  {tally.equal} / {tally.trials}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--steps", type=int, default=100, help="training steps of each run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(report(faults(args.trials, args.steps, args.seed, Path(tmp)))))


if __name__ == "__main__":
    main()
