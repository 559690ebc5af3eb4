"""thermodiff train: create a run (or continue one with --resume) and train it."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data import BUILTINS, DataConfig, Splits, load_dataset, make_splits
from ..errors import ConfigError
from ..evaluation.evaluate import Evaluation
from ..evaluation.report import describe
from ..networks import MLPConfig, ModelConfig, MultiScaleConfig, UNetConfig
from ..presets import RunConfig, configure
from ..processes import DiffusionConfig
from ..run import Run
from ..training import distributed
from ..training.config import TrainConfig
from ..training.loop import Outcome
from .common import EPILOG, ProgressBar, add_device, add_npz_key
from .options import add_config_arguments, flag, given

# section name -> its dataclass, as ``presets.configure`` takes them
SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "model": ModelConfig, "mlp": MLPConfig,
            "multiscale": MultiScaleConfig, "unet": UNetConfig, "train": TrainConfig}
RESUMABLE = {"steps", "eval_every", "eval_examples", "checkpoint_every"}  # may change when a run continues


def add_parser(sub) -> None:
    builtins = "; ".join(f"{name}: {b.description}" for name, b in BUILTINS.items())
    p = sub.add_parser("train", help="train a model (or continue one with --resume)",
                       description="Train a diffusion probabilistic model by gradient ascent on the bound K. Defaults "
                                   "depend on the kind of data (vectors, binary, images): each option lists its own.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("data", help="a .npy/.npz/.csv file of shape (examples, dimensions); images as .npy/.npz of shape "
                                "(N, H, W) or (N, C, H, W) (uint8: 8-bit) or a folder of PNG/JPEG files; mnist or cifar10 "
                                f"with --data-dir; or a built-in: {builtins}")
    p.add_argument("--out", required=True, type=Path, help="run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    p.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                   help="stop cleanly after this many minutes of training (checkpoint and held-out evaluation kept)")
    add_device(p)
    add_npz_key(p)
    add_config_arguments(p, DataConfig, "data", "data", skip=("npz_key",))
    add_config_arguments(p, DiffusionConfig, "diffusion", "diffusion")
    add_config_arguments(p, ModelConfig, "network", "model")
    add_config_arguments(p, MLPConfig, "MLP network")
    add_config_arguments(p, MultiScaleConfig, "multi-scale network (images)")
    add_config_arguments(p, UNetConfig, "U-Net (images, --network unet)")
    add_config_arguments(p, TrainConfig, "training", "train")


def given_sections(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {name: given(cls, args) for name, cls in SECTIONS.items()}


def _current(config: RunConfig, section: str) -> Any:
    return getattr(config.model, section) if section in ("mlp", "multiscale", "unet") else getattr(config, section)


def resumed_config(run: Run, args: argparse.Namespace) -> RunConfig:
    """The run's settings, with the loop settings that may change; any other setting given again
    must have the value the run already has."""
    if args.data != run.config.data.source and Path(args.data).resolve() != Path(run.config.data.source).resolve():
        raise ConfigError(f"{args.out} was trained on {run.config.data.source!r}, not {args.data!r}")
    changed = []
    for section, values in given_sections(args).items():
        current = _current(run.config, section)
        changed += [f"{flag(k)} ({getattr(current, k)!r} in the run, {v!r} given)" for k, v in values.items()
                    if k not in RESUMABLE and getattr(current, k) != v]
    if changed:
        raise ConfigError(f"--resume keeps the run's settings; these differ: {', '.join(changed)}")
    resumable = {k: v for k, v in given(TrainConfig, args).items() if k in RESUMABLE}
    return replace(run.config, train=replace(run.config.train, **resumable))


def prepare(args: argparse.Namespace) -> tuple[Run, Splits]:
    """Main process: the run to train and its examples (loaded and split once)."""
    if args.resume:
        run = Run.open(args.out)
        run = run.with_config(resumed_config(run, args))
        run.save_config()
        return run, run.load_splits()
    if (args.out / "config.json").exists():
        raise ConfigError(f"{args.out} already holds a run; pass --resume to continue it, or choose another --out")
    data_config = DataConfig(source=args.data, **given(DataConfig, args))
    dataset = load_dataset(data_config)
    splits = make_splits(dataset.x, data_config)
    config = configure(dataset, splits.train, given_sections(args))
    return Run.create(args.out, config, dataset, splits), splits


def run(args: argparse.Namespace) -> int:
    ctx = distributed.init(args.device)
    try:
        run_, splits = prepare(args) if ctx.is_main else (None, None)
        distributed.barrier(ctx)
        if not ctx.is_main:
            run_ = Run.open(args.out)
            run_ = run_.with_config(resumed_config(run_, args)) if args.resume else run_
        outcome, evaluation = run_.train(ctx, ProgressBar(ctx.is_main), args.time_limit, splits)
        if ctx.is_main:
            report(run_, outcome, evaluation)
    finally:
        distributed.shutdown(ctx)
    return 0


def report(run_: Run, outcome: Outcome, evaluation: Evaluation | None) -> None:
    how = {"steps": "reached the step count", "time": "reached the time limit", "interrupt": "interrupted"}[outcome.stopped_by]
    print(f"trained {run_.path}: {outcome.step} steps in {outcome.seconds / 60:.1f} min ({how}); checkpoint saved")
    if evaluation is not None:
        print("held-out evaluation:")
        for line in describe(evaluation.summary()):
            print("  " + line)
