"""thermodiff plot: the paper's figures for a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..run import Run
from .common import add_steps, output_path, prepare_chain

PLOTS = ("trajectories", "entropy", "denoise", "inpaint", "importance")


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="draw the paper's figures for a run",
                       description="trajectories: forward and reverse trajectories with the drift (paper Fig. 1); "
                                   "entropy: eq. 24's bounds on each reverse step's entropy with the learned kernel's; "
                                   "denoise, inpaint (image runs): held-out images, corrupted (noise at SNR 1; the central "
                                   "square hidden) and restored by posterior sampling (paper Figs. 4-5); importance: the "
                                   "importance-weighted bound L_k against the number k of forward trajectories per "
                                   "example, with error bars, beside K (and the truth where a built-in knows it).")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="output image (.png)")
    p.add_argument("--kind", choices=PLOTS, default="trajectories", help="which figure (default trajectories)")
    add_steps(p, "draw the trajectories, entropies and importance weights")
    p.add_argument("--importance-samples", type=int, default=64, metavar="K",
                   help="importance: the largest k (default 64; the figure shows 1, 2, 4, ..., k from the same draws)")
    p.add_argument("--max-examples", type=int, default=200, help="importance: held-out examples scored (default 200)")


def run(args: argparse.Namespace) -> int:
    from ..plots import figure_entropy, figure_importance, figure_restoration, figure_trajectories

    if args.max_examples < 1:
        raise ConfigError(f"--max-examples must be at least 1, got {args.max_examples}")
    run_ = Run.open(args.run)
    out = output_path(args.out, ".png", "--out")
    prepare_chain(run_)
    if args.kind == "importance":
        print(figure_importance(run_, out, args.importance_samples, args.max_examples, args.steps))
    elif args.kind in ("denoise", "inpaint"):
        print(figure_restoration(run_, out, args.kind))
    elif args.kind == "trajectories":
        figure_trajectories(run_, out, steps=args.steps)
    else:
        figure_entropy(run_, out, steps=args.steps)
    print(f"wrote {out}")
    return 0
