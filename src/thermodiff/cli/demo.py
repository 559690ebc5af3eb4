"""thermodiff demo: the main job on a built-in default (the Swiss roll), in the time it announces.

``--time-limit`` is the whole demo's budget: before training, the held-out evaluation and the two
figures are timed on a few examples with an untrained network of the same size (they cost the
same as with a trained one), and training gets what they leave.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data import DataConfig, load_dataset, make_splits
from ..evaluation.evaluate import evaluate
from ..presets import configure
from ..run import Run
from ..training import distributed
from .common import ProgressBar
from .train import exit_code, report

FIGURE_POINTS = 1000  # the trajectory figure's points (each is sampled through every step)
PROBE_EXAMPLES = 64


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="train on the built-in Swiss roll, report the bound against the truth, draw figures",
                       description="The main job on a built-in default: about 5 minutes in all (training, the bound "
                                   "next to the true log-likelihood, and the paper's figures).")
    p.add_argument("--out", type=Path, default=Path("."), help="directory for the figures and the run (default .)")
    p.add_argument("--time-limit", type=float, default=5.0, metavar="MINUTES",
                   help="the whole demo's time: training gets what the evaluation and the figures leave (default 5)")


def after_training_seconds(run_: Run, heldout_examples: int) -> float:
    """What the held-out evaluation and the two figures will take, from timing the evaluation of a
    few examples with an untrained network (the figures cost about FIGURE_POINTS * T rows of it)."""
    model = run_.build_model()
    config = run_.eval_config()
    x = run_.heldout()[:PROBE_EXAMPLES]
    started = time.monotonic()
    evaluate(model, x, run_.coordinates, config)
    per_row = (time.monotonic() - started) / (x.shape[0] * config.trajectories * model.steps.rows_per_example(config.t_samples))
    eval_rows = heldout_examples * config.trajectories * model.steps.rows_per_example(config.t_samples)
    figure_rows = FIGURE_POINTS * model.T + 512 * 64
    return per_row * (eval_rows + figure_rows)


def run(args: argparse.Namespace) -> int:
    from ..plots import figure_entropy, figure_trajectories

    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = next(args.out / name for name in (f"demo-run{'' if i == 0 else f'-{i + 1}'}" for i in range(1000))
                   if not (args.out / name).exists())
    data_config = DataConfig(source="swissroll")
    dataset = load_dataset(data_config)
    splits = make_splits(dataset.x, data_config)
    run_ = Run.create(run_dir, configure(dataset, splits.train, {}), dataset, splits)
    reserve = after_training_seconds(run_, len(splits.heldout))
    spent = (time.monotonic() - started) / 60
    training = max(0.1 * args.time_limit, args.time_limit - spent - reserve / 60)
    total = spent + training + reserve / 60
    print(f"the demo takes about {total:.1f} min: training on the Swiss roll "
          f"for up to {training:.2f} min, then about {reserve / 60:.2f} min for the held-out evaluation and two "
          f"figures; run directory {run_dir}", flush=True)
    outcome, evaluation = run_.train(distributed.init(), ProgressBar(True), training, splits)
    report(run_, outcome, evaluation)
    if outcome.stopped_by == "interrupt":
        return exit_code(outcome)
    figure_trajectories(run_, args.out / "swissroll_trajectories.png", n=FIGURE_POINTS)
    figure_entropy(run_, args.out / "swissroll_entropy.png")
    print(f"wrote {args.out / 'swissroll_trajectories.png'} and {args.out / 'swissroll_entropy.png'}")
    print(f"demo finished in {(time.monotonic() - started) / 60:.1f} min (announced: about {total:.1f})")
    return 0
