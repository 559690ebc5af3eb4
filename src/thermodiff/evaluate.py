"""Evaluating a model on data: the bound in the paper's convention and in the data's coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from .bound import BITS_PER_NAT, BoundEstimate, estimate_bound
from .config import option
from .data import Normalization
from .data.images import dequantize
from .model import DiffusionModel


@dataclass(frozen=True)
class EvalConfig:
    """How the bound is estimated (always without bias)."""

    trajectories: int = option(4, "draws of x_t per example and step, in antithetic pairs when even; more means less "
                                  "Monte Carlo noise (binary runs and images have their own defaults; the output records those used)")
    t_samples: int = option(200, "0 sums over every step t; M > 0 uses the decoder plus M stratified steps (unbiased, "
                                 "cheaper per example; binary runs sum every step, images sample)")
    eval_seed: int = option(12345, "seed of the evaluation's random draws")

    def __post_init__(self) -> None:
        if self.trajectories < 1:
            raise ValueError(f"trajectories must be at least 1, got {self.trajectories}")
        if self.t_samples < 0:
            raise ValueError(f"t_samples must be 0 or positive, got {self.t_samples}")


@dataclass(frozen=True)
class Evaluation:
    estimate: BoundEstimate
    log2_jacobian: float  # K_data = K + this
    true_log2: np.ndarray | None  # log2 p(x) per example in normalized coordinates, if known
    pixels: int | None = None  # images: bounds are reported per pixel (a pixel's channels summed)
    dims: int = 1  # numbers per example
    levels: int | None = None  # discrete data (dequantized): also report bits per dimension of the discrete data

    def per_example_data(self) -> np.ndarray:
        """Per-example bounds in bits, in the data's own coordinates (their mean is K_data)."""
        return self.estimate.K.cpu().numpy() + self.log2_jacobian

    def summary(self) -> dict[str, Any]:
        e = self.estimate
        K = e.mean()
        per = self.pixels or 1  # images: per pixel
        out: dict[str, Any] = {
            "K": K / per,
            "K_data": (K + self.log2_jacobian) / per,
            "K_minus_L_null": (K - float(e.log_null.mean())) / per,
            "stderr": e.stderr() / per,
            "n_examples": e.n,
            "units": "bits/pixel" if self.pixels else "bits/example",
            "L_null": float(e.log_null.mean()) / per,
            "K_eq14": float(e.K_eq14.mean()) / per,
            "mc_stderr_per_example": e.mc_stderr_per_example() / per,
            "estimator": e.estimator,
            "trajectories": e.trajectories,
        }
        if self.levels is not None:
            # -log2 P(x) <= -E_u log2 p(x + u) for the discrete data (values in units of one level)
            out["bits_per_dim"] = -(K + self.log2_jacobian) / self.dims
            out["bits_per_dim_stderr"] = e.stderr() / self.dims
        if self.true_log2 is not None:
            diff = self.true_log2 - e.K.cpu().numpy()
            out.update({
                "true_log_likelihood": float(self.true_log2.mean()),
                "true_log_likelihood_data": float(self.true_log2.mean()) + self.log2_jacobian,
                "gap": float(diff.mean()),
                "gap_stderr": float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan"),
            })
        return out


def evaluate(
    model: DiffusionModel,
    x: np.ndarray,
    normalization: Normalization,
    config: EvalConfig,
    log_density: Callable[[np.ndarray], np.ndarray] | None = None,
    device: torch.device | None = None,
    levels: int | None = None,
    uniform_steps: bool = False,
) -> Evaluation:
    """Estimate K for each example of ``x`` (data coordinates); compare with ``log_density`` if given.
    Discrete data (``levels``) are dequantized by U[0, 1) noise drawn from the evaluation's seed.
    ``uniform_steps``: see ``estimate_bound`` (the draws then pair up across models)."""
    device = device or next(model.parameters()).device
    if levels is not None:
        x = dequantize(x, levels, np.random.default_rng(config.eval_seed))
    w = torch.as_tensor(normalization.forward(x), dtype=torch.float64, device=device)
    generator = torch.Generator(device=device).manual_seed(config.eval_seed)
    in_model = estimate_bound(model, w, generator, trajectories=config.trajectories, t_samples=config.t_samples,
                              uniform_steps=uniform_steps)
    # from the model's coordinates to the paper's z-scored ones (an exact change of variables)
    det = normalization.log2_det_whitening()
    z = torch.as_tensor(normalization.to_z(x), dtype=torch.float64, device=device)
    estimate = replace(in_model, K=in_model.K + det, K_eq14=in_model.K_eq14 + det,
                       log_null=model.process.log_null(z) * BITS_PER_NAT)
    jac = normalization.log2_jacobian(tuple(x.shape[1:]))
    true = None
    if log_density is not None:
        true = log_density(x) * BITS_PER_NAT - jac
    shape = tuple(x.shape[1:])
    return Evaluation(estimate=estimate, log2_jacobian=jac, true_log2=true, pixels=shape[-2] * shape[-1] if len(shape) == 3 else None,
                      dims=int(np.prod(shape)), levels=levels)
