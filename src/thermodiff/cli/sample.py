"""thermodiff sample: exact samples of the model, in data coordinates."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data.images import make_grid, save_png
from ..errors import ConfigError, DataError
from ..run import Run
from .common import add_device, add_steps, device_of, output_path, prepare_chain


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw exact samples from the model", description="Ancestral sampling from the reverse process.")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--out", type=Path, required=True, help="output .npy (data coordinates)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--png", type=Path, default=None, help="images: also write the samples as a grid (.png)")
    add_steps(p, "sample")
    add_device(p)


def write_grid(run_: Run, images: np.ndarray, ncol: int, path: Path) -> None:
    """Images in data units as a PNG grid (discrete levels scaled to [0, 1]; other data clipped to it)."""
    save_png(make_grid(images / (run_.levels - 1) if run_.levels else np.clip(images, 0, 1), ncol=ncol), path)


def png_path(run_: Run, path: Path | None) -> Path | None:
    if path is None:
        return None
    if not run_.is_images:
        raise DataError("--png draws images; this run's examples are not images")
    return output_path(path, ".png", "--png")


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    run_ = Run.open(args.run)
    out, png = output_path(args.out, ".npy", "--out"), png_path(run_, args.png)
    prepare_chain(run_)
    x = run_.sample(args.n, seed=args.seed, device=device_of(args), steps=args.steps)
    np.save(out, x)
    print(f"wrote {args.n} samples to {out}")
    if png is not None:
        write_grid(run_, x, int(np.ceil(np.sqrt(args.n))), png)
        print(f"wrote {png}")
    return 0
