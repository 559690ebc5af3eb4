"""Posterior sampling by multiplying the model with evidence: inpainting, denoising, any smooth r.

The model p(x_0) times evidence r(x_0) gives p~(x_0) ∝ p(x_0) r(x_0) (Sohl-Dickstein et al.
2015, Sec. 2.5). The reverse chain is run with each step multiplied by a per-step factor,
p~(x_{t-1} | x_t) ∝ p(x_{t-1} | x_t) r_t(x_{t-1}). Which r_t is the method:

- ``paper``: r_t = r at every step, as the paper does. A heuristic: at a noisy step the
  evidence about x_0 is applied to x_{t-1} as if it were about x_{t-1}.
- ``diffused``: r_t(x_{t-1}) = E[r(x_0) | x_{t-1}], the evidence carried back to step t-1 by
  the model's own prediction of x_0 from x_{t-1}. For Gaussian diffusion that prediction is
  Gaussian with Tweedie's mean and covariance (exact for Gaussian data; see posterior.py); for
  binomial diffusion the model's factorized p(x_0 | x_{t-1}) reweights each bit's rate to first
  order. The last step (t = 1) uses r itself, exactly, under both methods. Denoising needs no
  evidence above the step s whose noise matches the data's: the noisy data, split in two
  independent observations, give an exact draw of x_s and the evidence for the steps below s
  (conditioning_gaussian.py).

Evidence is given in the data's own coordinates (``Inpainting``, ``Denoising``, ``Smooth``);
each process's conditioner maps it into the model's coordinates. A new process registers its
conditioner with ``register_conditioner``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from .config import coerce_enums, option
from .data import DataError, Normalization
from .model import DiffusionModel
from .process import ProcessKind


class Method(str, Enum):
    PAPER = "paper"
    DIFFUSED = "diffused"


@dataclass(frozen=True)
class PosteriorConfig:
    """How posterior samples are drawn."""

    method: Method = option(Method.DIFFUSED, "paper: r_t = r at every step (the paper's heuristic); diffused: the "
                                             "evidence carried back to each step by the model's prediction of x_0 "
                                             "(denoising z-scored data starts from the noisy data as a diffused state)")
    n_samples: int = option(16, "posterior samples per observed example")
    seed: int = option(0, "sampling seed")
    chains: int = option(4096, "chains run at once (memory)")
    dense_max: int = option(64, "diffused method: up to this many dimensions, the exact Jacobian of x0_hat (dense "
                                "matrices); above it, for z-scored data, each coordinate on its own with the "
                                "kernel's variance (fast, for images)")
    coupling: bool = option(True, "diffused method, coordinate by coordinate: also carry evidence between "
                                  "coordinates to first order through the network's Jacobian (one backward pass "
                                  "per step; without it, correlated coordinates learn of each other only through "
                                  "the next step's prediction)")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {self.n_samples}")
        if self.chains < 1:
            raise ValueError(f"chains must be at least 1, got {self.chains}")


# -- evidence, in data coordinates ------------------------------------------------------------
@dataclass(frozen=True)
class Inpainting:
    """Known values: r is a delta on the entries where ``mask`` is 1 (values elsewhere are ignored)."""

    observed: np.ndarray  # (N, *shape)
    mask: np.ndarray  # (N, *shape) bool


@dataclass(frozen=True)
class Denoising:
    """Noisy observations y = x_0 + n, n ~ N(0, noise_std^2) independently per entry."""

    noisy: np.ndarray  # (N, *shape)
    noise_std: np.ndarray  # broadcasts against (N, *shape), > 0


@dataclass(frozen=True)
class Smooth:
    """Any differentiable evidence: ``log_r`` maps a batch (B, *shape) in data coordinates
    (float64 tensor) to log r per example (B,). ``n`` copies of the chain are drawn.

    Steps use the paper's first-order form, N(mu + Sigma grad log r, Sigma): good while r is
    smooth on the scale of each step's spread (Sigma times the curvature of -log r well below 1;
    beyond 2 the update overshoots). Gaussian evidence is better given as ``Inpainting`` or
    ``Denoising``, whose products are exact."""

    log_r: Callable[[Tensor], Tensor]
    n: int


Evidence = Inpainting | Denoising | Smooth


def inpainting(observed: np.ndarray, mask: np.ndarray, data_shape: tuple[int, ...]) -> Inpainting:
    """Checked inpainting evidence: ``observed`` is one example or a batch; ``mask`` broadcasts to it."""
    observed = _as_batch(np.asarray(observed, dtype=np.float64), data_shape, "observations")
    try:
        mask = np.broadcast_to(np.asarray(mask), observed.shape)
    except ValueError:
        raise DataError(f"the mask of shape {np.shape(mask)} does not match the observations of shape "
                        f"{observed.shape}; give it the same shape, or one that broadcasts") from None
    if not np.isin(mask, (0, 1, True, False)).all():
        raise DataError("the mask must hold only 0 (unknown) and 1 (known)")
    mask = mask.astype(bool)
    flat = mask.reshape(mask.shape[0], -1)
    if not flat.any(axis=1).all():
        raise DataError("an example has no known values: nothing to condition on (use `thermodiff sample` instead)")
    if flat.all(axis=1).any():
        raise DataError("an example has every value known: there is nothing to fill in")
    if not np.isfinite(observed[mask]).all():
        raise DataError("known values must be finite")
    return Inpainting(observed=observed, mask=mask.copy())


def denoising(noisy: np.ndarray, noise_std: float | np.ndarray, data_shape: tuple[int, ...]) -> Denoising:
    """Checked denoising evidence; ``noise_std`` is in data coordinates and broadcasts to the data."""
    noisy = _as_batch(np.asarray(noisy, dtype=np.float64), data_shape, "noisy data")
    std = np.asarray(noise_std, dtype=np.float64)
    if not np.isfinite(noisy).all():
        raise DataError("the noisy data contain NaN or infinite values")
    if not (np.isfinite(std).all() and (std > 0).all()):
        raise DataError(f"the noise standard deviation must be positive and finite, got {noise_std}")
    try:
        std = np.broadcast_to(std, noisy.shape).copy()
    except ValueError:
        raise DataError(f"noise_std of shape {std.shape} does not broadcast to the data's shape {noisy.shape}") from None
    return Denoising(noisy=noisy, noise_std=std)


def _as_batch(x: np.ndarray, data_shape: tuple[int, ...], what: str) -> np.ndarray:
    if tuple(x.shape) == tuple(data_shape):
        return x[None]
    if tuple(x.shape[1:]) != tuple(data_shape):
        raise DataError(f"the {what} have shape {x.shape}; the model's examples have shape {data_shape}, "
                        f"so give ({', '.join(map(str, ('N', *data_shape)))}) or a single example")
    if x.shape[0] == 0:
        raise DataError(f"the {what} hold no examples")
    return x


# -- conditioners: one per process --------------------------------------------------------------
class Conditioner(abc.ABC):
    """Runs one process's reverse chain multiplied by evidence."""

    def __init__(self, model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...],
                 options: "PosteriorConfig"):
        self.model = model
        self.process = model.process
        self.normalization = normalization
        self.data_shape = tuple(data_shape)
        self.options = options
        self.method = Method(options.method)

    @abc.abstractmethod
    def prepare(self, evidence: Evidence, device: torch.device) -> Any:
        """The evidence per example in model coordinates (a structure the other methods index)."""

    @abc.abstractmethod
    def count(self, prepared: Any) -> int:
        """Number of examples the prepared evidence is about."""

    @abc.abstractmethod
    def select(self, prepared: Any, rows: Tensor) -> Any:
        """The prepared evidence for chains whose example indices are ``rows``."""

    @abc.abstractmethod
    def start(self, prepared: Any, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, Any]:
        """(x_s, s, evidence): the n chains' first state (model coordinates, float64), its step
        (usually T), and the evidence the steps below s are to use (usually ``prepared``)."""

    @abc.abstractmethod
    def step(self, x: Tensor, t: int, prepared: Any, generator: torch.Generator | None) -> Tensor:
        """A draw of x_{t-1} from p(x_{t-1} | x_t) r_t(x_{t-1}), normalized."""

    @abc.abstractmethod
    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        """Model-coordinate x_0 to data coordinates, with known values restored exactly."""


_CONDITIONERS: dict[ProcessKind, type[Conditioner]] = {}


def register_conditioner(kind: ProcessKind) -> Callable[[type[Conditioner]], type[Conditioner]]:
    def deco(cls: type[Conditioner]) -> type[Conditioner]:
        _CONDITIONERS[kind] = cls
        return cls

    return deco


def make_conditioner(model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...],
                     kind: ProcessKind, options: PosteriorConfig) -> Conditioner:
    from . import conditioning_binomial, conditioning_gaussian  # noqa: F401  (they register themselves)

    return _CONDITIONERS[ProcessKind(kind)](model, normalization, data_shape, options)


def sample_posterior(model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...], kind: ProcessKind,
                     evidence: Evidence, config: PosteriorConfig, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Posterior samples in data coordinates, shape (n_samples, N, *shape) (for ``Smooth``
    evidence, (n, *shape)). ``progress`` is called with the number of reverse steps done."""
    device = next(model.parameters()).device
    conditioner = make_conditioner(model, normalization, data_shape, kind, config)
    prepared = conditioner.prepare(evidence, device)
    n_examples = conditioner.count(prepared)
    per_example = 1 if isinstance(evidence, Smooth) else config.n_samples
    total = n_examples * per_example
    example_of = np.repeat(np.arange(n_examples), per_example)  # chain -> example
    generator = torch.Generator(device=device).manual_seed(config.seed)
    out = []
    for start in range(0, total, config.chains):
        rows = example_of[start:start + config.chains]
        chunk = conditioner.select(prepared, torch.as_tensor(rows, device=device))
        x, first, chunk = conditioner.start(chunk, rows.size, generator)
        if progress is not None:
            progress(model.T - first)
        for t in range(first, 0, -1):
            x = conditioner.step(x, t, chunk, generator)
            if progress is not None:
                progress(1)
        out.append(conditioner.finish(x, evidence, rows))
    samples = np.concatenate(out)
    if isinstance(evidence, Smooth):
        return samples
    return samples.reshape(n_examples, per_example, *samples.shape[1:]).swapaxes(0, 1)
