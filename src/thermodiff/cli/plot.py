"""thermodiff plot: the paper's figures for a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..run import Run
from .common import add_steps, output_path

PLOTS = ("trajectories", "entropy", "denoise", "inpaint")


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="draw the paper's figures for a run",
                       description="trajectories: forward and reverse trajectories with the drift (paper Fig. 1); "
                                   "entropy: eq. 24's bounds on each reverse step's entropy with the learned kernel's; "
                                   "denoise, inpaint (image runs): held-out images, corrupted (noise at SNR 1; the central "
                                   "square hidden) and restored by posterior sampling (paper Figs. 4-5).")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="output image (.png)")
    p.add_argument("--kind", choices=PLOTS, default="trajectories", help="which figure (default trajectories)")
    add_steps(p, "draw the trajectories and entropies")


def run(args: argparse.Namespace) -> int:
    from ..plots import figure_entropy, figure_restoration, figure_trajectories

    run_ = Run.open(args.run)
    out = output_path(args.out, ".png", "--out")
    if args.kind in ("denoise", "inpaint"):
        print(figure_restoration(run_, out, args.kind))
    elif args.kind == "trajectories":
        figure_trajectories(run_, out, steps=args.steps)
    else:
        figure_entropy(run_, out, steps=args.steps)
    print(f"wrote {out}")
    return 0
