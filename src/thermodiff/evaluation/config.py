"""Settings of the bound's estimators (per-kind defaults: presets.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import ConfigError


@dataclass(frozen=True)
class EvalConfig:
    """How the bound is estimated (always without bias), and what is reported beside it."""

    trajectories: int = option(4, "draws of x_t per example and step, in antithetic pairs when even; more means less "
                                  "Monte Carlo noise (the output records those used)")
    t_samples: int = option(200, "0 sums over every step t; M > 0 uses the decoder plus M stratified steps (unbiased, "
                                 "cheaper per example)")
    eval_seed: int = option(12345, "seed of the evaluation's random draws")
    importance_samples: int | None = option(
        None, "k: also the importance-weighted bound K_iw from k full forward trajectories per example (the "
              "talk's Jarzynski equality: a tighter lower bound on log p(x), >= K in expectation, tending to log p(x) "
              "as k grows), with its effective sample size and the estimates for k = 1, 2, 4, ...; costs k x T "
              "network evaluations per example")
    ode: bool = option(False, "Gaussian runs: also log_p_ode, the exact log-density of the probability-flow ODE "
                              "(Song et al. 2021). That is the density of a DIFFERENT, deterministic model that shares "
                              "this model's score: not a bound on this model's likelihood, never reported as K")
    ode_tolerance: float = option(1e-5, "relative and absolute tolerance of the ODE solver (adaptive Dormand-Prince)")
    ode_exact_dims: int = option(16, "the ODE's divergence is exact up to this many dimensions per example (one "
                                     "backward pass each); above, Hutchinson's unbiased estimate with one probe")

    def __post_init__(self) -> None:
        if self.trajectories < 1:
            raise ConfigError(f"trajectories must be at least 1, got {self.trajectories}")
        if self.t_samples < 0:
            raise ConfigError(f"t_samples must be 0 or positive, got {self.t_samples}")
        if self.importance_samples is not None and self.importance_samples < 1:
            raise ConfigError(f"importance samples must be at least 1 (k forward trajectories per example), "
                              f"got {self.importance_samples}")
        if not 0.0 < self.ode_tolerance < 1.0:
            raise ConfigError(f"ode tolerance must lie in (0, 1), got {self.ode_tolerance}")
        if self.ode_exact_dims < 0:
            raise ConfigError(f"ode exact dims must be 0 or positive, got {self.ode_exact_dims}")
