"""The interfaces of conditioned reverse chains.

A ``Conditioner`` (one per process, a row of ``CONDITIONERS``) reads the evidence once and
chooses how the chain is conditioned: it returns a ``Start``, the evidence per example in model
coordinates held by the one way of conditioning that fits it. The batch loop (chain.py) selects
the examples of each batch, starts their chains, and steps the ``Path`` that the start hands on.
Most paths start at T themselves; denoising can start lower, from the noisy data. A
``ParticlePath`` also weighs its draws, for sequential Monte Carlo (particles.py).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data import Normalization
from ..model import DiffusionModel
from .config import Method, PosteriorConfig
from .evidence import Evidence


class Start(abc.ABC):
    """Conditioned chains about a set of examples, not yet started."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of examples the evidence is about."""

    @abc.abstractmethod
    def select(self, rows: Tensor) -> "Start":
        """The same for chains whose example indices are ``rows``."""

    @abc.abstractmethod
    def start(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, "Path"]:
        """(x_s, s, path): the n chains' first state (model coordinates, float64), its step
        (usually T), and the path the steps below s follow."""


class Path(Start):
    """One way of running the reverse chain multiplied by evidence; it starts at T itself."""

    @abc.abstractmethod
    def step(self, x: Tensor, t: int, generator: torch.Generator | None) -> Tensor:
        """A draw of x_{t-1} from p(x_{t-1} | x_t) r_t(x_{t-1}), normalized."""

    @abc.abstractmethod
    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        """Model-coordinate x_0 to data coordinates, with known values restored exactly."""


@dataclass(frozen=True)
class Draw:
    """Proposed states x_s from g(x_s | x_{s+1}) and what sequential Monte Carlo weighs them by."""

    x: Tensor  # (B, ...) model coordinates
    log_gain: Tensor  # (B,) float64: log [p(x_s | x_{s+1}) r_s(x_s) / g(x_s | x_{s+1})]
    log_twist: Tensor  # (B,) float64: log r_s(x_s), divided out again by the next step's weight (0 at s = 0)


class ParticlePath(Path):
    """A path whose draws are proposals with known densities: x_T from p(x_T) r_T, normalized,
    then x_{t-1} from the diffused step g_t, each with its weight's factors (``Draw``). At s = 0
    the twist is r itself, folded into ``log_gain``."""

    @abc.abstractmethod
    def weighted_start(self, n: int, generator: torch.Generator | None) -> Draw:
        """n draws of x_T, log_gain = log p(x_T) r_T(x_T) / g_T(x_T)."""

    @abc.abstractmethod
    def weighted_step(self, x: Tensor, log_twist: Tensor, t: int, generator: torch.Generator | None) -> Draw:
        """A draw of x_{t-1} given x_t = x for each particle, with its factors; ``log_twist`` is
        log r_t(x_t) (a twist may depend on the particle's path, not only on its state)."""


class Conditioner(abc.ABC):
    """Chooses, for one process, how its reverse chain is conditioned on the evidence."""

    def __init__(self, model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...],
                 options: PosteriorConfig):
        self.model = model
        self.process = model.process
        self.normalization = normalization
        self.data_shape = tuple(data_shape)
        self.options = options
        self.method = Method(options.method)

    @abc.abstractmethod
    def prepare(self, evidence: Evidence, device: torch.device) -> Start:
        """The evidence per example in model coordinates, held by the way of conditioning chosen for it."""
