"""What the benchmarks share: running the command line as a user would, and scoring a run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def run(cmd: list[str]) -> str:
    """Run a command; stop the benchmark with its error output if it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return done.stdout


def train_and_score(run_dir: Path, source: str, time_limit: float, trajectories: int, extra: list[str]):
    """`thermodiff train` then `thermodiff evaluate --per-example` on the held-out split:
    (training's evaluation record, evaluate's record, held-out examples, per-example bounds, wall minutes)."""
    started = time.monotonic()
    run([sys.executable, "-m", "thermodiff", "train", source, "--out", str(run_dir), "--time-limit", str(time_limit), *extra])
    wall = time.monotonic() - started
    trained = json.loads((run_dir / "evaluation.json").read_text())
    per_path = run_dir / "per_example.npy"
    record = json.loads(run([sys.executable, "-m", "thermodiff", "evaluate", str(run_dir), "--json",
                             "--trajectories", str(trajectories), "--per-example", str(per_path)]))
    return trained, record, np.load(run_dir / "heldout.npy"), np.load(per_path), wall / 60
