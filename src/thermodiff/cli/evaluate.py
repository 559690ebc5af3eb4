"""thermodiff evaluate: the bound on held-out or other data, with its standard error."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..data import DataConfig, known_density, load_dataset, load_file
from ..data.builtin import resolve
from ..errors import ConfigError
from ..evaluation.config import EvalConfig
from ..evaluation.report import describe
from ..run import Run
from .common import add_device, add_npz_key, device_of, output_path
from .options import add_config_arguments, given


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="estimate the bound K on held-out or other data",
                       description="Estimate the lower bound K on log-likelihood without bias, with its standard error. "
                                   "The estimator's defaults depend on the kind of data: each option lists its own.")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--data", default=None, help="score this file (or built-in) instead of the run's held-out split, in the run's normalization")
    add_npz_key(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--per-example", type=Path, default=None, metavar="FILE.npy",
                   help="also write one bound per example (bits, data coordinates: their mean is K_data)")
    p.add_argument("--max-examples", type=int, default=None, help="score at most this many examples")
    p.add_argument("--parzen", action="store_true",
                   help="images: also a Parzen-window estimate (the paper's Table 2 baseline; bandwidth fitted on training "
                        "images). A poor estimator of log-likelihood, biased and bandwidth-sensitive: for comparison only")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="continuous-time runs: the bound of the N-step chain obtained from the model (a discrete-time "
                        "bound, below the continuous one) instead of the continuous-time bound")
    add_device(p)
    add_config_arguments(p, EvalConfig, "estimator", "eval")


def evaluation_data(run_: Run, args: argparse.Namespace):
    """(examples, log-density or None, reference) for --data or the held-out split."""
    if args.data is None:
        return (run_.heldout(), *known_density(run_.config.data.source))
    if resolve(args.data) is not None:
        dataset = load_dataset(DataConfig(source=args.data, data_seed=run_.config.data.data_seed + 1))
        return dataset.x, dataset.log_density, dataset.reference
    (x, _), density, reference = load_file(args.data, args.npz_key, run_.config.data.image_size), None, {}
    return x, density, reference


def run(args: argparse.Namespace) -> int:
    if args.max_examples is not None and args.max_examples < 1:
        raise ConfigError(f"--max-examples must be at least 1, got {args.max_examples}")
    per_example = None if args.per_example is None else output_path(args.per_example, ".npy", "--per-example")
    run_ = Run.open(args.run)
    config = run_.eval_config(given(EvalConfig, args))
    x, density, reference = evaluation_data(run_, args)
    x = run_.check_examples(x, args.data or "the held-out split")[: args.max_examples]
    evaluation = run_.evaluate(x, config, device_of(args), log_density=density, reference=reference, parzen=args.parzen,
                               steps=args.steps)
    record = {**evaluation.summary(), "data": args.data or "heldout"}
    if args.steps is not None:
        record["steps"] = args.steps
    if per_example is not None:
        np.save(per_example, evaluation.per_example_data())
    print(json.dumps(record) if args.json else "\n".join(describe(record)))
    return 0
