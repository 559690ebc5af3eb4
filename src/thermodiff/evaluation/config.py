"""Settings of the bound's estimator (per-kind defaults: presets.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import ConfigError


@dataclass(frozen=True)
class EvalConfig:
    """How the bound is estimated (always without bias)."""

    trajectories: int = option(4, "draws of x_t per example and step, in antithetic pairs when even; more means less "
                                  "Monte Carlo noise (the output records those used)")
    t_samples: int = option(200, "0 sums over every step t; M > 0 uses the decoder plus M stratified steps (unbiased, "
                                 "cheaper per example)")
    eval_seed: int = option(12345, "seed of the evaluation's random draws")

    def __post_init__(self) -> None:
        if self.trajectories < 1:
            raise ConfigError(f"trajectories must be at least 1, got {self.trajectories}")
        if self.t_samples < 0:
            raise ConfigError(f"t_samples must be 0 or positive, got {self.t_samples}")
