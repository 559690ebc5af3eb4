"""The command line: a thin layer over train, evaluate, sampling and plots.

Options for the model and the training loop are generated from the configuration dataclasses,
so their defaults and help texts live in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import distributed
from .checkpoint import CheckpointError
from .conditioning import PosteriorConfig
from .config import ConfigError, add_arguments, given, override
from .data import BUILTINS, DataConfig, DataError, Dataset, load_dataset, load_file
from .data.builtin import resolve
from .evaluate import EvalConfig, evaluate
from .networks import MLPConfig, MultiScaleConfig
from .process import DiffusionConfig, ProcessKind
from .report import describe, evaluation_record
from .run import ModelConfig, Run, RunConfig, configure
from .train import TrainCallbacks, Outcome, train
from .train_config import TrainConfig

EPILOG = """\
examples:
  thermodiff demo
  thermodiff train swissroll --out runs/sr
  thermodiff train mydata.npy --out runs/mine --steps 20000 --seed 0
  thermodiff evaluate runs/mine --json
  thermodiff sample runs/mine --n 5000 --out samples.npy
  thermodiff plot runs/sr --out fig.png
  thermodiff inpaint runs/mine --data obs.npy --mask mask.npy --n-samples 16 --out filled.npy
  thermodiff denoise runs/mine --data noisy.npy --noise-std 0.5 --n-samples 16 --out clean.npy
  torchrun --nproc_per_node 2 -m thermodiff train swissroll --out runs/ddp
"""

USER_ERRORS = (DataError, ConfigError, CheckpointError, ValueError, FileNotFoundError)


def _builtin_help() -> str:
    return "; ".join(f"{name}: {b.description}" for name, b in BUILTINS.items())


# -- train ------------------------------------------------------------------------------------
def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model (or continue one with --resume)",
                       description="Train a diffusion probabilistic model by gradient ascent on the bound K.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("data", help="a .npy/.npz/.csv file of shape (examples, dimensions); images as .npy/.npz of shape "
                                "(N, H, W) or (N, C, H, W) (uint8: 8-bit) or a folder of PNG/JPEG files; mnist or cifar10 "
                                f"with --data-dir; or a built-in: {_builtin_help()}")
    p.add_argument("--out", required=True, type=Path, help="run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    p.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                   help="stop cleanly after this many minutes of training (checkpoint and held-out evaluation kept)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_arguments(p, DataConfig, "data")
    add_arguments(p, DiffusionConfig, "diffusion")
    add_arguments(p, ModelConfig, "network")
    add_arguments(p, MLPConfig, "MLP network")
    add_arguments(p, MultiScaleConfig, "multi-scale network (images)")
    add_arguments(p, TrainConfig, "training")


SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "model": ModelConfig, "mlp": MLPConfig,
            "multiscale": MultiScaleConfig, "train": TrainConfig}


def config_from_args(args: argparse.Namespace, dataset: Dataset) -> RunConfig:
    return configure(dataset, {name: given(cls, args) for name, cls in SECTIONS.items()})


RESUMABLE = {"steps", "eval_every", "eval_examples", "checkpoint_every"}


def resumed_run(args: argparse.Namespace) -> Run:
    run = Run.open(args.out)
    changed = {k for cls in SECTIONS.values() for k in given(cls, args)}
    if args.data != run.config.data.source:
        raise ConfigError(f"{args.out} was trained on {run.config.data.source!r}, not {args.data!r}")
    fixed = changed - RESUMABLE
    if fixed:
        raise ConfigError(f"--resume keeps the run's settings; these cannot change: {', '.join(sorted(fixed))}")
    return run.with_config(RunConfig(run.config.data, run.config.diffusion, run.config.model,
                                     override(run.config.train, given(TrainConfig, args))))


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


def cmd_train(args: argparse.Namespace) -> int:
    ctx = distributed.init(args.device)
    try:
        if ctx.is_main:
            run = prepare_run(args)
        distributed.barrier(ctx)
        if not ctx.is_main:
            run = Run.open(args.out)
            if args.resume:
                run = resumed_run(args)
        outcome = train(run, ctx, ProgressBar(ctx.is_main), args.time_limit)
        if ctx.is_main:
            report_training(run, outcome)
    finally:
        distributed.shutdown(ctx)
    return 0


def prepare_run(args: argparse.Namespace) -> Run:
    if args.resume:
        run = resumed_run(args)
        run.save_config()
        return run
    if (args.out / "config.json").exists():
        raise ConfigError(f"{args.out} already holds a run; pass --resume to continue it, or choose another --out")
    data_config = DataConfig(source=args.data, **given(DataConfig, args))
    dataset = load_dataset(data_config)
    return Run.create(args.out, config_from_args(args, dataset), dataset)


def report_training(run: Run, outcome: Outcome) -> None:
    how = {"steps": "reached the step count", "time": "reached the time limit", "interrupt": "interrupted"}[outcome.stopped_by]
    print(f"trained {run.path}: {outcome.step} steps in {outcome.seconds / 60:.1f} min ({how}); checkpoint saved")
    if outcome.evaluation is not None:
        record = json.loads(run.evaluation_path.read_text())
        print("held-out evaluation:")
        for line in describe(record):
            print("  " + line)


# -- evaluate ---------------------------------------------------------------------------------
def add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="estimate the bound K on held-out or other data",
                       description="Estimate the lower bound K on log-likelihood without bias, with its standard error.")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--data", default=None, help="score this file (or built-in) instead of the run's held-out split, in the run's normalization")
    p.add_argument("--npz-key", default=None, help="which array of an .npz --data file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--per-example", type=Path, default=None, metavar="FILE.npy",
                   help="also write one bound per example (bits, data coordinates: their mean is K_data)")
    p.add_argument("--max-examples", type=int, default=None, help="score at most this many examples")
    p.add_argument("--parzen", action="store_true",
                   help="images: also a Parzen-window estimate (the paper's Table 2 baseline; bandwidth fitted on training "
                        "images). A poor estimator of log-likelihood, biased and bandwidth-sensitive: for comparison only")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_arguments(p, EvalConfig, "estimator")


def evaluation_data(run: Run, args: argparse.Namespace):
    """(examples, log-density or None, reference) for --data or the held-out split."""
    if args.data is None:
        found = resolve(run.config.data.source)
        density = load_dataset(run.config.data).log_density if found and found[0].log_density else None
        reference = found[0].reference if found else {}
        return run.heldout(), density, reference
    found = resolve(args.data)
    if found is not None:
        dataset = load_dataset(DataConfig(source=args.data, data_seed=run.config.data.data_seed + 1))
        x, density, reference = dataset.x, dataset.log_density, dataset.reference
    else:
        (x, _), density, reference = load_file(args.data, args.npz_key, run.config.data.image_size), None, {}
    if tuple(x.shape[1:]) != run.data_shape:
        raise DataError(f"{args.data} has examples of shape {tuple(x.shape[1:])}; the run was trained on {run.data_shape}")
    if run.levels is not None and not (x.min() >= 0 and x.max() <= run.levels - 1 and (x == np.round(x)).all()):
        raise DataError(f"{args.data}: the run models discrete data with values 0..{run.levels - 1}; these are not")
    return x, density, reference


def cmd_evaluate(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    model = run.load_model().to(torch.device(args.device) if args.device else distributed.default_device())
    x, density, reference = evaluation_data(run, args)
    if args.max_examples is not None:
        x = x[: args.max_examples]
    config = run.eval_config(given(EvalConfig, args))
    evaluation = evaluate(model, x, run.normalization, config, log_density=density, levels=run.levels)
    record = evaluation_record(evaluation, reference)
    record["data"] = args.data or "heldout"
    if run.levels is not None:
        from .baselines import image_baselines
        from .train import training_data

        record.update(image_baselines(training_data(run)[1], x, run.levels, config.eval_seed))
        if args.parzen:
            record.update(parzen_record(run, x, config.eval_seed))
    if args.per_example is not None:
        np.save(args.per_example, evaluation.per_example_data())
    if args.json:
        print(json.dumps(record))
    else:
        print("\n".join(describe(record)))
    return 0


def parzen_record(run: Run, x: np.ndarray, seed: int) -> dict:
    from .baselines import parzen_bandwidth, parzen_log2_density
    from .data.images import dequantize
    from .train import training_data

    rng = np.random.default_rng(seed)
    train = dequantize(training_data(run)[1], run.levels, rng)
    sigma = parzen_bandwidth(train, rng)
    log2p = parzen_log2_density(train, dequantize(x, run.levels, np.random.default_rng(seed)), sigma)
    return {"parzen_bits_per_dim": float(-log2p.mean() / x[0].size), "parzen_sigma": sigma}


# -- sample and plot --------------------------------------------------------------------------
def add_sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw exact samples from the model", description="Ancestral sampling from the reverse process.")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--out", type=Path, required=True, help="output .npy (data coordinates)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--png", type=Path, default=None, help="images: also write the samples as a grid (.png)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")


def cmd_sample(args: argparse.Namespace) -> int:
    from .sampling import sample

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    run = Run.open(args.run)
    device = torch.device(args.device) if args.device else distributed.default_device()
    model = run.load_model().to(device)
    z, _ = sample(model, run.data_shape, args.n, torch.Generator(device=device).manual_seed(args.seed), device)
    x = run.normalization.inverse(z.cpu().numpy())
    if run.levels is not None:  # the dequantized model's exact discrete samples: floor(x_0)
        x = np.clip(np.floor(x), 0, run.levels - 1).astype(np.uint8 if run.levels <= 256 else np.int64)
    np.save(args.out, x)
    print(f"wrote {args.n} samples to {args.out}")
    if args.png is not None:
        write_grid(run, x, int(np.ceil(np.sqrt(args.n))), args.png)
        print(f"wrote {args.png}")
    return 0


def write_grid(run: Run, images: np.ndarray, ncol: int, path: Path) -> None:
    """Images in data units as a PNG grid (discrete levels scaled to [0, 1]; other data clipped to it)."""
    if not run.is_images:
        raise DataError("--png draws images; this run's examples are not images")
    from .data.images import make_grid, save_png

    save_png(make_grid(images / (run.levels - 1) if run.levels else np.clip(images, 0, 1), ncol=ncol), path)


PLOTS = ("trajectories", "entropy", "denoise", "inpaint")


def add_plot_parser(sub) -> None:
    p = sub.add_parser("plot", help="draw the paper's figures for a run",
                       description="trajectories: forward and reverse trajectories with the drift (paper Fig. 1); "
                                   "entropy: eq. 24's bounds on each reverse step's entropy with the learned kernel's; "
                                   "denoise, inpaint (image runs): held-out images, corrupted (noise at SNR 1; the central "
                                   "square hidden) and restored by posterior sampling (paper Figs. 4-5).")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="output image (.png)")
    p.add_argument("--kind", choices=PLOTS, default="trajectories", help="which figure (default trajectories)")


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import figure_entropy, figure_restoration, figure_trajectories

    run = Run.open(args.run)
    if args.kind in ("denoise", "inpaint"):
        print(figure_restoration(run, args.out, args.kind))
    elif args.kind == "trajectories":
        if int(np.prod(run.data_shape)) < 2 and run.config.diffusion.process is not ProcessKind.BINOMIAL:
            raise DataError("the trajectory figure needs at least two dimensions")
        figure_trajectories(run, args.out)
    else:
        figure_entropy(run, args.out)
    print(f"wrote {args.out}")
    return 0


# -- posteriors: inpaint and denoise ------------------------------------------------------------
def _add_posterior_options(p) -> None:
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="output .npy: (n_samples, *data shape), data coordinates")
    p.add_argument("--npz-key", default=None, help="which array of an .npz --data file")
    p.add_argument("--png", type=Path, default=None, help="images: also write the samples as a grid, a row per example")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_arguments(p, PosteriorConfig, "posterior sampling")


def add_inpaint_parser(sub) -> None:
    p = sub.add_parser("inpaint", help="fill in missing values: posterior samples given the known ones",
                       description="Sample p(x_0 | known values) by multiplying each reverse step with the evidence "
                                   "(Sohl-Dickstein et al. 2015, Sec. 2.5). Known values are kept exactly.")
    p.add_argument("--data", required=True, help="observations (.npy/.npz/.csv, or a PNG/JPEG for image runs): one example "
                                                 "or a batch, data coordinates; values where the mask is 0 are ignored (NaN is fine)")
    p.add_argument("--mask", required=True, help="same shape as --data (or broadcasting to it): 1 where a value is known; "
                                                 "for image runs also a PNG (nonzero: known)")
    _add_posterior_options(p)


def add_denoise_parser(sub) -> None:
    p = sub.add_parser("denoise", help="remove additive Gaussian noise: posterior samples of the clean data",
                       description="Sample p(x_0 | y) for y = x_0 + n, n ~ N(0, noise_std^2) in data coordinates, by "
                                   "multiplying each reverse step with the evidence (Sohl-Dickstein et al. 2015, Sec. 2.5).")
    p.add_argument("--data", required=True, help="noisy observations (.npy/.npz/.csv, or a PNG/JPEG for image runs): one "
                                                 "example or a batch, data coordinates")
    p.add_argument("--noise-std", required=True, type=float, help="standard deviation of the noise, data coordinates")
    _add_posterior_options(p)


def read_observations(path: str, run: Run, npz_key: str | None = None) -> np.ndarray:
    """Observations for ``inpaint``/``denoise``: an array file, or for image runs a PNG/JPEG image
    of the run's size (grey or RGB as the run's images are)."""
    from .data.files import read_array
    from .data.images import IMAGE_SUFFIXES

    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        if not run.is_images:
            raise DataError(f"{path} is an image; this run's examples are not images")
        from PIL import Image

        channels, height, width = run.data_shape
        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float64)
        array = array[None] if channels == 1 else array.transpose(2, 0, 1)
        if array.shape != tuple(run.data_shape):
            raise DataError(f"{path} is {array.shape[2]}x{array.shape[1]} pixels; the run's images are {width}x{height}")
        return array
    observed = read_array(path, npz_key)
    if observed.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numbers, got an array of dtype {observed.dtype}")
    return observed


def _posterior(args: argparse.Namespace, make_evidence) -> int:
    from .conditioning import sample_posterior

    run = Run.open(args.run)
    device = torch.device(args.device) if args.device else distributed.default_device()
    observed = read_observations(args.data, run, args.npz_key).astype(np.float64)
    single = tuple(observed.shape) == tuple(run.data_shape)
    if run.levels is not None:  # discrete data: the model's values live in [v, v + 1); condition on the middle
        observed = observed + 0.5
    evidence = make_evidence(observed, run)
    config = PosteriorConfig(**given(PosteriorConfig, args))
    model = run.load_model().to(device)
    n_chains = evidence_count(evidence) * config.n_samples
    from tqdm import tqdm

    with tqdm(total=model.T * -(-n_chains // config.chains), unit="step", file=sys.stderr, dynamic_ncols=True,
              disable=None, desc=f"{n_chains} chains") as bar:
        samples = sample_posterior(model, run.normalization, run.data_shape, run.config.diffusion.process, evidence,
                                   config, progress=bar.update)
    if run.levels is not None:  # back to the discrete values (known values v + 1/2 -> v exactly)
        samples = np.clip(np.floor(samples), 0, run.levels - 1).astype(np.uint8 if run.levels <= 256 else np.int64)
    out = samples[:, 0] if single else samples
    np.save(args.out, out)
    print(f"wrote {args.out}: {config.n_samples} posterior samples ({config.method.value} method) of "
          f"{'one example' if single else f'{samples.shape[1]} examples'}, shape {out.shape}")
    if args.png is not None:
        write_grid(run, samples.swapaxes(0, 1).reshape(-1, *run.data_shape), config.n_samples, args.png)  # a row per example
        print(f"wrote {args.png}: one row of samples per example")
    return 0


def evidence_count(evidence) -> int:
    from .conditioning import Inpainting

    return (evidence.observed if isinstance(evidence, Inpainting) else evidence.noisy).shape[0]


def cmd_inpaint(args: argparse.Namespace) -> int:
    from .conditioning import inpainting
    from .data.images import IMAGE_SUFFIXES

    def evidence(observed, run):
        mask = read_observations(args.mask, run)
        if Path(args.mask).suffix.lower() in IMAGE_SUFFIXES:  # an image mask: any nonzero value is known
            mask = mask > 0
        return inpainting(observed, mask, run.data_shape)

    return _posterior(args, evidence)


def cmd_denoise(args: argparse.Namespace) -> int:
    from .conditioning import denoising

    return _posterior(args, lambda noisy, run: denoising(noisy, args.noise_std, run.data_shape))


# -- demo -------------------------------------------------------------------------------------
def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="train on the built-in Swiss roll, report the bound against the truth, draw figures",
                       description="The main job on a built-in default: about 5 minutes of training on the Swiss "
                                   "roll, the bound next to the true log-likelihood, and the paper's figures.")
    p.add_argument("--out", type=Path, default=Path("."), help="directory for the figures and the run (default .)")
    p.add_argument("--time-limit", type=float, default=5.0, metavar="MINUTES", help="training time (default 5)")


def cmd_demo(args: argparse.Namespace) -> int:
    from .plots import figure_entropy, figure_trajectories

    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = next(args.out / name for name in (f"demo-run{'' if i == 0 else f'-{i + 1}'}" for i in range(1000))
                   if not (args.out / name).exists())
    config = RunConfig(DataConfig(source="swissroll"), DiffusionConfig(), ModelConfig(), TrainConfig())
    run = Run.create(run_dir, config, load_dataset(config.data))
    print(f"training on the Swiss roll for up to {args.time_limit:g} minutes; run directory {run_dir}", flush=True)
    started = time.monotonic()
    outcome = train(run, distributed.init(), ProgressBar(True), args.time_limit)
    report_training(run, outcome)
    for kind, draw in (("trajectories", figure_trajectories), ("entropy", figure_entropy)):
        path = args.out / f"swissroll_{kind}.png"
        draw(run, path)
        print(f"wrote {path}")
    print(f"demo finished in {(time.monotonic() - started) / 60:.1f} min")
    return 0


# -- entry point ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermodiff",
        description="Diffusion probabilistic models (Sohl-Dickstein et al. 2015): train on your data, sample "
                    "exactly, and get a lower bound on log-likelihood in bits with its standard error.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_demo_parser, add_train_parser, add_evaluate_parser, add_sample_parser, add_plot_parser,
                add_inpaint_parser, add_denoise_parser):
        add(sub)
    return parser


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "plot": cmd_plot,
            "inpaint": cmd_inpaint, "denoise": cmd_denoise}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as err:
        if os.environ.get("THERMODIFF_DEBUG"):
            raise
        print(f"thermodiff {args.command}: error: {err}", file=sys.stderr)
        return 2
