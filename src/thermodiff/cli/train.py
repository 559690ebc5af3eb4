"""thermodiff train: create a run (or continue one with --resume) and train it.

The first line says how the data were read (vectors, binary, images, levels). A new run that
fails before its first checkpoint is removed, so that it can simply be started again. SIGTERM
and SIGINT stop training after the current step with a checkpoint, say how to resume, and exit
with 128 + the signal's number (143, 130).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data import BUILTINS, DataConfig, Splits, load_dataset, make_splits
from ..errors import ConfigError
from ..evaluation.evaluate import Evaluation
from ..evaluation.report import describe
from ..networks import MLPConfig, ModelConfig, MultiScaleConfig, UNetConfig
from ..presets import RunConfig, configure, describe_data, infer_kind
from ..processes import DiffusionConfig
from ..rundir import check_new_directory, locate
from ..run import Run
from ..training import distributed
from ..training.config import RESUMABLE, TrainConfig
from ..training.loop import Outcome
from ..training.signals import StopSignals, name as signal_name
from .common import EPILOG, ProgressBar, add_device, add_npz_key
from .options import add_config_arguments, flag, given

# section name -> its dataclass, as ``presets.configure`` takes them
SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "model": ModelConfig, "mlp": MLPConfig,
            "multiscale": MultiScaleConfig, "unet": UNetConfig, "train": TrainConfig}


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
                   help="stop cleanly after this many minutes of training (checkpoint and held-out evaluation kept); "
                        "SIGTERM or Ctrl-C stop after the current step with a checkpoint, and --resume continues")
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
    must have the value the run already has (the data are checked by their fingerprint: ``prepare``)."""
    changed = []
    for section, values in given_sections(args).items():
        current = _current(run.config, section)
        changed += [f"{flag(k)} ({getattr(current, k)!r} in the run, {v!r} given)" for k, v in values.items()
                    if k not in RESUMABLE and getattr(current, k) != v]
    if changed:
        raise ConfigError(f"--resume keeps the run's settings; these differ: {', '.join(changed)}")
    resumable = {k: v for k, v in given(TrainConfig, args).items() if k in RESUMABLE}
    return replace(run.config, train=replace(run.config.train, **resumable))


def check_args(args: argparse.Namespace) -> None:
    if args.time_limit is not None and not args.time_limit > 0:
        raise ConfigError(f"--time-limit must be a positive number of minutes, got {args.time_limit:g}")


def prepare(args: argparse.Namespace, stack: ExitStack | None = None,
            ctx: distributed.DistContext | None = None) -> tuple[Run, Splits]:
    """Main process: the run to train (created unless --resume) and its examples, loaded and split
    once. ``stack``: holds the run's lock until it closes (``Run.train`` takes it in any case)."""
    check_args(args)
    if args.resume:
        run = Run.open(args.out)
        if stack is not None:
            stack.enter_context(run.lock())
        run = run.with_config(resumed_config(run, args))
        splits = run.load_splits(args.data)  # the same data by any path: their fingerprint decides
        run = run.with_config(run.config, replace(run.data, source_path=locate(replace(run.config.data, source=args.data))[0]
                                                  or run.data.source_path))
        run.save_config()
        print(f"resuming {run.path} at its checkpoint; {describe_data(run.kind, run.data_shape, run.levels)}", flush=True)
        return run, splits
    check_new_directory(args.out)
    data_config = DataConfig(source=args.data, **given(DataConfig, args))
    dataset = load_dataset(data_config)
    splits = make_splits(dataset.x, data_config)
    config = configure(dataset, splits.train, given_sections(args))
    (ctx or distributed.DistContext(0, 1, None)).local_slice(config.train.batch_size)
    print(describe_data(infer_kind(dataset, config.diffusion.process), dataset.shape, dataset.levels, dataset), flush=True)
    run = Run.create(args.out, config, dataset, splits)
    if stack is not None:
        stack.enter_context(run.lock())
    return run, splits


def run(args: argparse.Namespace) -> int:
    ctx = distributed.init(args.device)
    with ExitStack() as stack:
        stack.callback(distributed.shutdown, ctx)
        stack.enter_context(StopSignals())  # a signal while the data load stops training at its first step
        run_, splits = prepare(args, stack, ctx) if ctx.is_main else (None, None)
        distributed.barrier(ctx)
        if not ctx.is_main:
            run_ = Run.open(args.out)
            run_ = run_.with_config(resumed_config(run_, args)) if args.resume else run_
        try:
            outcome, evaluation = run_.train(ctx, ProgressBar(ctx.is_main), args.time_limit, splits)
        except BaseException:
            if ctx.is_main and not args.resume and not run_.has_checkpoint():  # a failed start: nothing to keep
                shutil.rmtree(run_.path, ignore_errors=True)
            raise
        if ctx.is_main:
            report(run_, outcome, evaluation, args)
    return exit_code(outcome)


def exit_code(outcome: Outcome) -> int:
    """0, or for a run stopped by a signal 128 + its number (the shell's convention; Ctrl-C: 130)."""
    if outcome.stopped_by != "interrupt":
        return 0
    return 128 + (outcome.signal or 2)


def report(run_: Run, outcome: Outcome, evaluation: Evaluation | None, args: argparse.Namespace | None = None) -> None:
    how = {"steps": "reached the step count", "time": "reached the time limit",
           "interrupt": f"interrupted by {signal_name(outcome.signal)}"}[outcome.stopped_by]
    print(f"trained {run_.path}: {outcome.step} steps in {outcome.seconds / 60:.1f} min ({how}); checkpoint saved")
    if outcome.stopped_by == "interrupt":
        data = args.data if args is not None else run_.config.data.source
        print(f"interrupted at step {outcome.step} of {run_.config.train.steps}; resume with: thermodiff train "
              f"{shlex.quote(str(data))} --out {shlex.quote(str(run_.path))} --resume", file=sys.stderr)
    if evaluation is not None:
        print("held-out evaluation:")
        for line in describe(evaluation.summary()):
            print("  " + line)
