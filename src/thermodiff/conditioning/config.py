"""How posterior samples are drawn: the method (which factor r_t multiplies each step) and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..config import coerce_enums, option
from ..errors import ConfigError


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
            raise ConfigError(f"n_samples must be at least 1, got {self.n_samples}")
        if self.chains < 1:
            raise ConfigError(f"chains must be at least 1, got {self.chains}")


