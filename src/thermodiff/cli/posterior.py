"""thermodiff inpaint / denoise: posterior samples by multiplying the model with evidence."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..conditioning import Method, ParticleReport, PosteriorConfig
from ..data.files import read_array
from ..data.images import IMAGE_SUFFIXES, read_image
from ..errors import ConfigError, DataError
from ..run import Run
from .common import add_device, add_npz_key, add_steps, device_of, output_path, prepare_chain
from .options import add_config_arguments, given
from .sample import png_path, write_grid


def _add_common(p) -> None:
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--out", type=Path, required=True, help="output .npy: (n_samples, *data shape), data coordinates")
    add_npz_key(p)
    p.add_argument("--png", type=Path, default=None, help="images: also write the samples as a grid, a row per example")
    p.add_argument("--json-out", type=Path, default=None,
                   help="--method smc: also write, per example, log p(y) in nats (data coordinates) with its standard "
                        "error, the final effective sample size and the number of resamplings, as JSON")
    add_steps(p, "sample the posterior (every --method, smc included)")
    add_device(p)
    add_config_arguments(p, PosteriorConfig, "posterior sampling")


def add_inpaint_parser(sub) -> None:
    p = sub.add_parser("inpaint", help="fill in missing values: posterior samples given the known ones",
                       description="Sample p(x_0 | known values) by multiplying each reverse step with the evidence "
                                   "(Sohl-Dickstein et al. 2015, Sec. 2.5). Known values are kept exactly.")
    p.add_argument("--data", required=True, help="observations (.npy/.npz/.csv, or a PNG/JPEG for image runs): one example "
                                                 "or a batch, data coordinates; values where the mask is 0 are ignored (NaN is fine)")
    p.add_argument("--mask", required=True, help="same shape as --data (or broadcasting to it): 1 where a value is known; "
                                                 "for image runs also a PNG (nonzero: known)")
    _add_common(p)


def add_denoise_parser(sub) -> None:
    p = sub.add_parser("denoise", help="remove additive Gaussian noise: posterior samples of the clean data",
                       description="Sample p(x_0 | y) for y = x_0 + n, n ~ N(0, noise_std^2) in data coordinates, by "
                                   "multiplying each reverse step with the evidence (Sohl-Dickstein et al. 2015, Sec. 2.5).")
    p.add_argument("--data", required=True, help="noisy observations (.npy/.npz/.csv, or a PNG/JPEG for image runs): one "
                                                 "example or a batch, data coordinates")
    p.add_argument("--noise-std", required=True, type=float, help="standard deviation of the noise, data coordinates")
    _add_common(p)


def read_observations(path: str, run_: Run, npz_key: str | None = None) -> np.ndarray:
    """Observations: an array file, or for image runs a PNG/JPEG image of the run's size."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        if not run_.is_images:
            raise DataError(f"{path} is an image; this run's examples are not images")
        return read_image(path, run_.data_shape)
    observed = read_array(path, npz_key)
    if observed.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected numbers, got an array of dtype {observed.dtype}")
    return observed


def _sample(args: argparse.Namespace, draw) -> int:
    """Check the outputs, read the observations, draw, write."""
    run_ = Run.open(args.run)
    out, png = output_path(args.out, ".npy", "--out"), png_path(run_, args.png)
    config = PosteriorConfig(**given(PosteriorConfig, args))
    if args.json_out is not None and config.method is not Method.SMC:
        raise ConfigError("--json-out writes what the smc method's particles found (log p(y), ESS); add --method smc")
    json_out = None if args.json_out is None else output_path(args.json_out, ".json", "--json-out")
    observed = read_observations(args.data, run_, args.npz_key).astype(np.float64)
    prepare_chain(run_)
    from tqdm import tqdm

    with tqdm(unit="step", file=sys.stderr, dynamic_ncols=True, disable=None, desc="posterior chains") as bar:
        result = draw(run_, observed, config, device_of(args), bar.update)
    samples = result.samples
    single = tuple(observed.shape) == tuple(run_.data_shape)
    np.save(out, samples)
    print(f"wrote {out}: {config.n_samples} posterior samples ({config.method.value} method) of "
          f"{'one example' if single else f'{observed.shape[0]} examples'}, shape {samples.shape}")
    if result.report is not None:
        _report(result.report, json_out)
    if png is not None:
        rows = samples[:, None] if single else samples
        write_grid(run_, rows.swapaxes(0, 1).reshape(-1, *run_.data_shape), config.n_samples, png)  # a row per example
        print(f"wrote {png}: one row of samples per example")
    return 0


def _report(report: ParticleReport, json_out: Path | None) -> None:
    """Per example: log p(y) with its standard error and the final ESS, printed and (``--json-out``) written."""
    print(f"smc: {report.particles} particles per system, {report.systems} system(s) per example; log p(y) in nats "
          f"(data coordinates), standard error from {report.stderr_from}")
    for i, rec in enumerate(report.observations()):
        print(f"example {i}: log p(y) = {rec['log_p_y_nats']:.4f} ± {rec['log_p_y_stderr_nats']:.4f}, "
              f"final ESS {rec['ess']:.1f} of {report.particles}, resampled {rec['resamplings']:.1f} times")
    for i in np.flatnonzero(report.carried_by_few()):
        print(f"WARNING: example {i}: {report.systems_ess[i]:.1f} of the {report.systems} systems carry its log p(y); "
              f"its standard error is too small to trust (more particles per system would tell)")
    if json_out is not None:
        json_out.write_text(json.dumps(report.summary(), indent=2) + "\n")
        print(f"wrote {json_out}")


def run_inpaint(args: argparse.Namespace) -> int:
    def draw(run_, observed, config, device, progress):
        mask = read_observations(args.mask, run_)
        if Path(args.mask).suffix.lower() in IMAGE_SUFFIXES:  # an image mask: any nonzero value is known
            mask = mask > 0
        return run_.inpaint_posterior(observed, mask, config, device, progress, args.steps)

    return _sample(args, draw)


def run_denoise(args: argparse.Namespace) -> int:
    return _sample(args, lambda run_, noisy, config, device, progress: run_.denoise_posterior(noisy, args.noise_std, config,
                                                                                               device, progress, args.steps))
