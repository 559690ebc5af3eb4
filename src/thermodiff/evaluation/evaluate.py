"""Evaluating a model on data: the bound in the paper's convention and in the data's coordinates.

Each key of ``Evaluation.summary()`` (what ``thermodiff evaluate --json`` prints) is computed by
one named function here or in estimate.py; docs/ARCHITECTURE.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch

from ..bound import BITS_PER_NAT
from ..data import Coordinates
from ..model import DiffusionModel
from .config import EvalConfig
from .estimate import BoundEstimate, estimate_bound


@dataclass(frozen=True)
class Evaluation:
    estimate: BoundEstimate  # in the paper's z-scored coordinates
    log2_jacobian: float  # K_data = K + this
    true_log2: np.ndarray | None  # log2 p(x) per example in z-scored coordinates, if known
    pixels: int | None = None  # images: bounds are reported per pixel (a pixel's channels summed)
    dims: int = 1  # numbers per example
    levels: int | None = None  # discrete data (dequantized): also report bits per dimension of the discrete data
    extra: dict[str, Any] = field(default_factory=dict)  # baselines and context, reported as they are

    def per_example_data(self) -> np.ndarray:
        """Per-example bounds in bits, in the data's own coordinates (their mean is K_data)."""
        return self.estimate.K.cpu().numpy() + self.log2_jacobian

    def summary(self) -> dict[str, Any]:
        """The printed record: K and its companions (units: ``units``), then ``extra``."""
        per = self.pixels or 1  # images: per pixel
        out = {**K_keys(self.estimate, self.log2_jacobian, per), "n_examples": self.estimate.n,
               "units": "bits/pixel" if self.pixels else "bits/example", **estimator_keys(self.estimate, per)}
        if self.levels is not None:
            out.update(bits_per_dim(self.estimate, self.log2_jacobian, self.dims))
        if self.true_log2 is not None:
            out.update(gap_keys(self.estimate, self.true_log2, self.log2_jacobian))
        return {**out, **self.extra}

    def with_extra(self, **extra: Any) -> "Evaluation":
        return replace(self, extra={**self.extra, **extra})


def K_keys(e: BoundEstimate, log2_jacobian: float, per: int) -> dict[str, float]:
    """K (z-scored, the paper's), K_data (data coordinates), K - L_null, stderr, L_null, eq. 14."""
    K, null = e.mean(), float(e.log_null.mean())
    return {"K": K / per, "K_data": (K + log2_jacobian) / per, "K_minus_L_null": (K - null) / per,
            "stderr": e.stderr() / per, "L_null": null / per, "K_eq14": float(e.K_eq14.mean()) / per}


def estimator_keys(e: BoundEstimate, per: int) -> dict[str, Any]:
    return {"mc_stderr_per_example": e.mc_stderr_per_example() / per, "estimator": e.estimator,
            "trajectories": e.trajectories}


def bits_per_dim(e: BoundEstimate, log2_jacobian: float, dims: int) -> dict[str, float]:
    """-K_data / D of dequantized data in units of one level: an upper bound on -log2 P(x) / D of
    the discrete data, since -log2 P(x) <= -E_u log2 p(x + u) (data/images.py)."""
    return {"bits_per_dim": -(e.mean() + log2_jacobian) / dims, "bits_per_dim_stderr": e.stderr() / dims}


def gap_keys(e: BoundEstimate, true_log2: np.ndarray, log2_jacobian: float) -> dict[str, float]:
    """The exact log-likelihood where it is known, and the gap truth - K (a real bound keeps it >= 0)."""
    diff = true_log2 - e.K.cpu().numpy()
    return {
        "true_log_likelihood": float(true_log2.mean()),
        "true_log_likelihood_data": float(true_log2.mean()) + log2_jacobian,
        "gap": float(diff.mean()),
        "gap_stderr": float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan"),
    }


def evaluate(
    model: DiffusionModel,
    x: np.ndarray,
    coordinates: Coordinates,
    config: EvalConfig,
    log_density: Callable[[np.ndarray], np.ndarray] | None = None,
    uniform_steps: bool = False,
) -> Evaluation:
    """Estimate K for each example of ``x`` (data coordinates); compare with ``log_density`` if given.
    Discrete data are dequantized by U[0, 1) noise drawn from the evaluation's seed.
    ``uniform_steps``: see ``estimate_bound`` (the draws then pair up across models)."""
    device = next(model.parameters()).device
    x = coordinates.dequantize(x, np.random.default_rng(config.eval_seed))
    normalization = coordinates.normalization
    w = torch.as_tensor(coordinates.to_model(x), dtype=torch.float64, device=device)
    generator = torch.Generator(device=device).manual_seed(config.eval_seed)
    in_model = estimate_bound(model, w, generator, trajectories=config.trajectories, t_samples=config.t_samples,
                              uniform_steps=uniform_steps)
    # from the model's coordinates to the paper's z-scored ones (an exact change of variables)
    det = normalization.log2_det_whitening()
    z = torch.as_tensor(normalization.to_z(x), dtype=torch.float64, device=device)
    estimate = replace(in_model, K=in_model.K + det, K_eq14=in_model.K_eq14 + det,
                       log_null=model.process.log_null(z) * BITS_PER_NAT)
    shape = tuple(x.shape[1:])
    jac = normalization.log2_jacobian(shape)
    true = None if log_density is None else log_density(x) * BITS_PER_NAT - jac
    return Evaluation(estimate=estimate, log2_jacobian=jac, true_log2=true, pixels=shape[-2] * shape[-1] if len(shape) == 3 else None,
                      dims=int(np.prod(shape)), levels=coordinates.levels)
