"""What the commands share: options defined once, the device, output paths, progress bars."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..errors import ConfigError
from ..training.distributed import default_device
from ..training.loop import Outcome, TrainCallbacks

EPILOG = """\
examples:
  thermodiff demo
  thermodiff train swissroll --out runs/sr
  thermodiff train mydata.npy --out runs/mine --steps 20000 --seed 0
  thermodiff evaluate runs/mine --json
  thermodiff evaluate runs/mine --importance-samples 64 --json
  thermodiff sample runs/mine --n 5000 --out samples.npy
  thermodiff plot runs/sr --out fig.png
  thermodiff inpaint runs/mine --data obs.npy --mask mask.npy --n-samples 16 --out filled.npy
  thermodiff denoise runs/mine --data noisy.npy --noise-std 0.5 --n-samples 16 --out clean.npy
  torchrun --nproc_per_node 2 -m thermodiff train swissroll --out runs/ddp
"""


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu)")


def add_steps(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--steps", type=int, default=None, metavar="N",
                        help=f"continuous-time runs: {what} with a chain of N steps (default: the run's T); fewer "
                             "steps are faster and cost bits (evaluate --steps N shows how many). The chain's times "
                             "and variances come from x_hat's error, measured once per checkpoint on training "
                             "examples (stored in the run as denoising_profile.json)")


def add_npz_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--npz-key", dest="npz_key", default=None, help="which array of an .npz data file")


def device_of(args: argparse.Namespace) -> torch.device:
    try:
        return torch.device(args.device) if args.device else default_device()
    except RuntimeError as err:
        raise ConfigError(f"--device {args.device}: {err}") from None


def output_path(path: Path, suffix: str, option: str) -> Path:
    """The path that will be written (``suffix`` added if missing), checked before any work is done."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        path = path.with_name(path.name + suffix)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: the folder {parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    try:  # open it as the write will (os.access says yes to root, even where nothing can be created)
        existed = path.exists()
        with open(path, "ab"):
            pass
        if not existed:
            path.unlink()
    except OSError as err:
        raise ConfigError(f"{option} {path}: cannot write it ({err.strerror or err})") from None
    return path


class ProgressBar(TrainCallbacks):
    """A tqdm bar with the running bound and the latest held-out bound."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.heldout = ""

    def on_start(self, step: int, total: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, file=sys.stderr)

    def on_step(self, step: int, running_K: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if step % 25 == 0:
                self.bar.set_postfix_str(f"K~{running_K:.3f} bits{self.heldout}", refresh=False)

    def on_eval(self, step: int, summary: dict) -> None:
        self.heldout = f", held-out K {summary['K']:.3f}+-{summary['stderr']:.3f}"

    def on_end(self, outcome: Outcome) -> None:
        if self.bar is not None:
            self.bar.close()


class EvaluationProgress:
    """A tqdm bar (stderr) for each long part of an evaluation, with the time left."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def start(self, what: str, total: float, unit: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, unit_scale=True, dynamic_ncols=True, file=sys.stderr)

    def advance(self, amount: float) -> None:
        if self.bar is not None:  # fractions of the ODE's span may sum a rounding error past the total
            self.bar.update(min(amount, self.bar.total - self.bar.n))

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def prepare_chain(run_) -> None:
    """A continuous-time run measures its denoising profile once per checkpoint before its first
    chain of steps (run.py, ``denoising_profile``): show that work as it happens."""
    run_.denoising_profile(progress=EvaluationProgress(True))
