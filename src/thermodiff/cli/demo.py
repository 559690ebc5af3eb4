"""thermodiff demo: the main job on a built-in default (the Swiss roll)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data import DataConfig, load_dataset, make_splits
from ..presets import configure
from ..run import Run
from ..training import distributed
from .common import ProgressBar
from .train import report


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train on the built-in Swiss roll, report the bound against the truth, draw figures",
                       description="The main job on a built-in default: about 5 minutes of training on the Swiss "
                                   "roll, the bound next to the true log-likelihood, and the paper's figures.")
    p.add_argument("--out", type=Path, default=Path("."), help="directory for the figures and the run (default .)")
    p.add_argument("--time-limit", type=float, default=5.0, metavar="MINUTES", help="training time (default 5)")


def run(args: argparse.Namespace) -> int:
    from ..plots import figure_entropy, figure_trajectories

    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = next(args.out / name for name in (f"demo-run{'' if i == 0 else f'-{i + 1}'}" for i in range(1000))
                   if not (args.out / name).exists())
    data_config = DataConfig(source="swissroll")
    dataset = load_dataset(data_config)
    splits = make_splits(dataset.x, data_config)
    run_ = Run.create(run_dir, configure(dataset, splits.train, {}), dataset, splits)
    print(f"training on the Swiss roll for up to {args.time_limit:g} minutes; run directory {run_dir}", flush=True)
    started = time.monotonic()
    outcome, evaluation = run_.train(distributed.init(), ProgressBar(True), args.time_limit, splits)
    report(run_, outcome, evaluation)
    for kind, draw in (("trajectories", figure_trajectories), ("entropy", figure_entropy)):
        path = args.out / f"swissroll_{kind}.png"
        draw(run_, path)
        print(f"wrote {path}")
    print(f"demo finished in {(time.monotonic() - started) / 60:.1f} min")
    return 0
