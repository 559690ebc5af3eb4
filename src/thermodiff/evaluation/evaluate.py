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
from ..errors import ConfigError
from ..model import DiffusionModel
from ..processes.base import DiscreteProcess
from .config import EvalConfig
from .estimate import BoundEstimate, estimate_bound
from .flow import FlowEstimate, ode_log_density
from .importance import ImportanceEstimate, trajectory_log_weights
from .work import NoProgress, Progress, Share


@dataclass(frozen=True)
class Evaluation:
    estimate: BoundEstimate  # in the paper's z-scored coordinates
    log2_jacobian: float  # K_data = K + this
    true_log2: np.ndarray | None  # log2 p(x) per example in z-scored coordinates, if known
    pixels: int | None = None  # images: bounds are reported per pixel (a pixel's channels summed)
    dims: int = 1  # numbers per example
    levels: int | None = None  # discrete data (dequantized): also report bits per dimension of the discrete data
    extra: dict[str, Any] = field(default_factory=dict)  # baselines and context, reported as they are
    importance: ImportanceEstimate | None = None  # the importance-weighted bound, if asked for
    ode: FlowEstimate | None = None  # the probability-flow ODE's log-density, if asked for

    def per_example_data(self) -> np.ndarray:
        """Per-example bounds in bits, in the data's own coordinates (their mean is K_data)."""
        return self.estimate.K.cpu().numpy() + self.log2_jacobian

    def per_example_iw_data(self) -> np.ndarray:
        """Per-example importance-weighted bounds L_k in bits, data coordinates (their mean is K_iw_data)."""
        return self.importance.bound().cpu().numpy() + self.log2_jacobian

    def summary(self) -> dict[str, Any]:
        """The printed record: K and its companions (units: ``units``), then ``extra``."""
        per = self.pixels or 1  # images: per pixel
        out = {**K_keys(self.estimate, self.log2_jacobian, per), "n_examples": self.estimate.n,
               "units": "bits/pixel" if self.pixels else "bits/example", **estimator_keys(self.estimate, per)}
        if self.levels is not None:
            out.update(bits_per_dim(self.estimate, self.log2_jacobian, self.dims))
        if self.true_log2 is not None:
            out.update(gap_keys(self.estimate, self.true_log2, self.log2_jacobian))
        if self.importance is not None:
            out.update(importance_keys(self.importance, self.estimate, self.log2_jacobian, per))
            if self.levels is not None:
                out.update(per_dimension("bits_per_dim_iw", self.per_example_iw_data(), self.dims))
            if self.true_log2 is not None:
                out.update(paired("gap_iw", self.true_log2 - self.importance.bound().cpu().numpy(), 1))
        if self.ode is not None:
            out.update(ode_keys(self.ode, self.log2_jacobian, per))
            if self.levels is not None:
                out.update(per_dimension("bits_per_dim_ode", self.ode.log_p.cpu().numpy() + self.log2_jacobian, self.dims))
            if self.true_log2 is not None:
                out.update(paired("gap_ode", self.true_log2 - self.ode.log_p.cpu().numpy(), 1))
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


def paired(name: str, diff: np.ndarray, per: int) -> dict[str, float]:
    """The mean of per-example differences and its standard error (paired: the spread of log p
    over examples cancels, so small differences between estimates show)."""
    se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan")
    return {name: float(diff.mean()) / per, f"{name}_stderr": se / per}


def per_dimension(name: str, log2_data: np.ndarray, dims: int) -> dict[str, float]:
    """-log2 density / D of dequantized discrete data: an upper bound on their code length per dimension."""
    se = float(log2_data.std(ddof=1) / math.sqrt(log2_data.size)) if log2_data.size > 1 else float("nan")
    return {name: -float(log2_data.mean()) / dims, f"{name}_stderr": se / dims}


def one_carries(k: int) -> float:
    """The effective sample size below which one trajectory carries nearly all of an example's weight:
    2, or 1.5 for k = 2 (where any two unequal weights are below 2)."""
    return min(2.0, 1.0 + (k - 1) / 2)


def carried_by_one(ess: np.ndarray, k: int) -> np.ndarray:
    """Never for k = 1 (the threshold is 1, the smallest ESS)."""
    return ess < one_carries(k)


def degenerate(ess: np.ndarray, k: int) -> bool:
    """Weights are degenerate when in half the examples or more one trajectory carries nearly all the
    weight (``carried_by_one``). L_k is then still a lower bound in expectation, but far from
    converged: how far it is below log p(x) cannot be read off it."""
    return float(np.median(ess)) < one_carries(k)


def still_rising(nested: dict[int, np.ndarray], per: int) -> dict[str, Any]:
    """L_k - L_j per example for the last doubling (j the nested size below k), paired: while it is
    clearly above 0 (two standard errors), more trajectories would still tighten K_iw."""
    sizes = sorted(nested)
    if len(sizes) < 2:
        return {}
    gain = paired("K_iw_last_gain", nested[sizes[-1]] - nested[sizes[-2]], per)
    # False when the stderr is NaN (one example); 1e-6 keeps rounding in equal weights from counting
    rising = gain["K_iw_last_gain"] > max(2.0 * gain["K_iw_last_gain_stderr"], 1e-6)
    return {**gain, "K_iw_last_gain_from": sizes[-2], "K_iw_still_rising": bool(rising)}


def importance_keys(iw: ImportanceEstimate, K: BoundEstimate, log2_jacobian: float, per: int) -> dict[str, Any]:
    """K_iw (same units and coordinates as K), K_iw_data, stderr, k, the effective sample size per
    example (mean, smallest, median, the fraction below 2), the degeneracy flag, the nested L_j and
    whether L_k is still rising, and K_iw - K paired."""
    L = iw.bound().cpu().numpy()
    ess = iw.ess().cpu().numpy()
    nested = {j: v.cpu().numpy() for j, v in iw.nested().items()}
    se = (lambda v: float(v.std(ddof=1) / math.sqrt(v.size)) / per if v.size > 1 else float("nan"))
    return {"K_iw": float(L.mean()) / per, "K_iw_data": (float(L.mean()) + log2_jacobian) / per, "K_iw_stderr": se(L),
            "importance_samples": iw.k, "ess_mean": float(ess.mean()), "ess_min": float(ess.min()),
            "ess_median": float(np.median(ess)), "ess_below_2": float(carried_by_one(ess, iw.k).mean()),
            "iw_degenerate": degenerate(ess, iw.k),
            "K_iw_nested": {str(j): float(v.mean()) / per for j, v in nested.items()},
            "K_iw_nested_stderr": {str(j): se(v) for j, v in nested.items()},
            **still_rising(nested, per), **paired("K_iw_minus_K", L - K.K.cpu().numpy(), per)}


def ode_keys(flow: FlowEstimate, log2_jacobian: float, per: int) -> dict[str, Any]:
    """log_p_ode (same units and coordinates as K, but of the ODE's model), its data-coordinate value,
    its standard error over examples (with Hutchinson's noise, if used), and how it was computed."""
    v = flow.log_p.cpu().numpy()
    se = float(v.std(ddof=1) / math.sqrt(v.size)) / per if v.size > 1 else float("nan")
    return {"log_p_ode": float(v.mean()) / per, "log_p_ode_data": (float(v.mean()) + log2_jacobian) / per,
            "log_p_ode_stderr": se, "ode_divergence": flow.divergence,
            "ode_evaluations": float(flow.evaluations.double().mean())}


def evaluate(
    model: DiffusionModel,
    x: np.ndarray,
    coordinates: Coordinates,
    config: EvalConfig,
    log_density: Callable[[np.ndarray], np.ndarray] | None = None,
    uniform_steps: bool = False,
    share: Share | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Estimate K for each example of ``x`` (data coordinates); compare with ``log_density`` if given.
    Discrete data are dequantized by U[0, 1) noise drawn from the evaluation's seed.
    ``uniform_steps``: see ``estimate_bound`` (the draws then pair up across models).
    With ``config.importance_samples`` or ``config.ode``, also those, on this process's ``share`` of
    the examples (gathered back: every process returns the whole evaluation). K itself is computed
    by every process on every example with the generator it has always used, so its numbers stay."""
    if (config.ode or config.importance_samples is not None) and not isinstance(model.process, DiscreteProcess):
        raise ConfigError("the importance-weighted bound and the ODE follow trajectories over a chain of steps: for a "
                          "continuous-time run, give the number of steps (--steps N; Run.evaluate(steps=N))")
    if config.ode:
        model.process.flow_span(model.process.table())  # a process without an ODE says so before any work
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
    result = Evaluation(estimate=estimate, log2_jacobian=jac, true_log2=true,
                        pixels=shape[-2] * shape[-1] if len(shape) == 3 else None, dims=int(np.prod(shape)),
                        levels=coordinates.levels)
    return beyond_one_trajectory(result, model, w, config, det, share or Share(), progress or NoProgress())


def beyond_one_trajectory(result: Evaluation, model: DiffusionModel, w: torch.Tensor, config: EvalConfig, det: float,
                          share: Share, progress: Progress) -> Evaluation:
    """``result`` with the importance-weighted bound and the ODE's log-density where ``config`` asks
    for them, each computed on this process's share of the examples ``w`` (model coordinates)."""
    n, local = w.shape[0], share.local(w.shape[0])
    if config.importance_samples is not None:
        log_w = trajectory_log_weights(model, w[local], config.importance_samples, config.eval_seed,
                                       first_index=local.start, progress=progress)
        result = replace(result, importance=ImportanceEstimate(log_w=share.all(log_w, n), offset=det))
    if config.ode:
        flow = ode_log_density(model, w[local], config.eval_seed, config.ode_tolerance, config.ode_exact_dims,
                               first_index=local.start, progress=progress)
        both = share.all(torch.stack([flow.log_p, flow.evaluations.double()], dim=1), n)
        result = replace(result, ode=replace(flow, log_p=both[:, 0] + det, evaluations=both[:, 1].long()))
    return result
