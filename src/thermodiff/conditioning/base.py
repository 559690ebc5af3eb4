"""The interface of a conditioned reverse chain: one subclass per process (a row of ``CONDITIONERS``)."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import Normalization
from ..model import DiffusionModel
from .config import Method, PosteriorConfig
from .evidence import Evidence


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


