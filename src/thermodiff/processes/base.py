"""What a diffusion process provides to the model, the bound and the sampler: math only.

A process owns its schedule and knows its forward kernel, how network outputs become a reverse
kernel, and the three kinds of terms of the bound (assembled in ``thermodiff.bound``):
  decoder      -log p(x_0 | x_1): ``decoder_nll`` at drawn rows of step 1 (discrete time), or
               ``decoder_expectation`` where it is known in closed form (continuous time)
  steps        KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) at drawn steps t >= 2, or the
               continuous-time limit's integrand at drawn times (``posterior_kl``)
  prior        KL(q(x_T | x_0) || p(x_T))  (``prior_kl``)
all per example, in nats. ``DiscreteProcess`` adds what a chain of T steps needs (sampling,
conditioning, entropies, and the densities of whole trajectories from which the importance
weights p(x_{0:T}) / q(x_{1:T} | x_0) are built); a continuous-time process gives a discrete one
for any number of steps (``discretized``). A new process is one module in ``equations/`` for its math, one
subclass here in ``processes/``, and one row in ``processes.PROCESSES``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import coerce_enums, option
from ..equations.reverse import Parameterization
from ..equations.shapes import gather
from ..errors import ConfigError
from ..schedule import ScheduleKind, ScheduleTable


class ProcessKind(str, Enum):
    GAUSSIAN = "gaussian"
    BINOMIAL = "binomial"
    CONTINUOUS = "continuous"


@dataclass(frozen=True)
class DiffusionConfig:
    """The forward process and the form of the reverse kernel."""

    process: ProcessKind = option(ProcessKind.GAUSSIAN, "diffusion process (data of 0s and 1s get binomial)")
    T: int = option(1000, "number of diffusion steps (the paper used 40 for the Swiss roll); continuous: the "
                          "steps its sampler and posteriors take unless --steps says otherwise")
    schedule: ScheduleKind = option(ScheduleKind.LOGSNR, "noise schedule beta_t (logsnr: even steps in log signal-to-noise ratio)")
    beta_1: float = option(1e-5, "the first step's fixed, small beta_1 (sets the finest scale resolved)")
    beta_max: float = option(0.02, "linear schedule: its last beta at T = 1000 (other T scale it by 1000/T, "
                                   "keeping the total noise)")
    parameterization: Parameterization = option(
        Parameterization.POSTERIOR, "how network outputs become the reverse mean and variance"
    )
    pi: float | None = option(None, "binomial: stationary rate of the noise (default: the data's mean activity)")
    gamma_0: float = option(-13.3, "continuous: -log SNR at t = 0 (the decoder's noise: its variance is exp(gamma_0))")
    gamma_1: float = option(5.0, "continuous: -log SNR at t = 1 (how close q(z_1 | x) comes to the prior)")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if self.T < 2:
            raise ConfigError(f"T must be at least 2, got {self.T}")
        if not 0.0 < self.beta_1 < 1.0:
            raise ConfigError(f"beta_1 must lie in (0, 1), got {self.beta_1}")
        if not 0.0 < self.beta_max < 1.0:
            raise ConfigError(f"beta_max must lie in (0, 1), got {self.beta_max}")
        if self.pi is not None and not 0.0 < self.pi < 1.0:
            raise ConfigError(f"pi must lie in (0, 1), got {self.pi}")


class DiffusionProcess(nn.Module, abc.ABC):
    """Forward process, reverse kernel and bound terms for one kind of state space."""

    #: network outputs per data element (e.g. 2 for a Gaussian: z_mu and z_Sigma)
    out_channels: int
    #: the states are continuous, so discrete data (images' grey levels) are dequantized for it
    continuous: bool
    #: time runs over steps 1..T (the network may have a readout per step)
    discrete_time: bool = True

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config

    @property
    def T(self) -> int:
        return self.config.T

    @property
    def kind(self) -> ProcessKind:
        return ProcessKind(self.config.process)

    @classmethod
    def check_data(cls, x: np.ndarray, name: str) -> None:
        """Raise a DataError if examples like ``x`` cannot be modelled by this process."""

    @classmethod
    def data_defaults(cls, config: DiffusionConfig, train_x: np.ndarray) -> DiffusionConfig:
        """``config`` with settings that depend on the training data filled in where unset."""
        return config

    @abc.abstractmethod
    def table(self) -> Any:
        """The schedule's quantities (float64; differentiable if the schedule is learned)."""

    @abc.abstractmethod
    def network_time(self, t: Tensor, table: Any) -> tuple[Tensor, Tensor]:
        """(step index, position in [0, 1]) that the network sees for times ``t``."""

    @abc.abstractmethod
    def discretized(self, steps: int | None, profile: Any = None) -> "DiscreteProcess":
        """The chain of ``steps`` steps that samples, conditions and is scored step by step
        (``profile``: the network's measured error, for a process whose chain depends on it)."""

    def network_input(self, xt: Tensor) -> Tensor:
        """What the network sees of x_t (the state itself unless a process says otherwise)."""
        return xt

    # -- the forward process and its randomness ------------------------------------------------
    @abc.abstractmethod
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor, table: Any) -> Tensor:
        """A draw of x_t from q(x_t | x_0); ``noise`` is this process's source of randomness."""

    @abc.abstractmethod
    def noise_like(self, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        """The randomness ``q_sample`` consumes, drawn for a batch like ``x0``."""

    @abc.abstractmethod
    def antithetic(self, noise: Tensor) -> Tensor:
        """The mirror image of ``noise`` with the same distribution (for antithetic pairs)."""

    @abc.abstractmethod
    def noise_feature(self, noise: Tensor) -> Tensor:
        """u(noise) per example with E[u] = 0 exactly: the control variate (see variance.py)."""

    @abc.abstractmethod
    def noise_feature_variance(self, x0: Tensor) -> float:
        """Var[u(noise)] for one example like those of ``x0`` (exact)."""

    # -- the reverse kernel and the terms of the bound -----------------------------------------
    @abc.abstractmethod
    def reverse(self, net_out: Tensor, xt: Tensor, t: Tensor, table: Any) -> Any:
        """The reverse kernel p(x_{t-1} | x_t) from network outputs of shape (B, out_channels, *shape)."""

    @abc.abstractmethod
    def at_decoder(self, t: Tensor) -> Tensor:
        """Which drawn times are the decoder's (bool, like ``t``)."""

    def decoder_expectation(self, x0: Tensor, table: Any) -> Tensor | None:
        """E_q[-log p(x_0 | x_1)] per example where it is known in closed form; None where drawn
        rows at the decoder's step carry it (``decoder_nll``)."""
        return None

    @abc.abstractmethod
    def decoder_nll(self, x0: Tensor, kernel: Any) -> Tensor:
        """-log p(x_0 | x_1) per example, in nats, for the kernel at t = 1."""

    @abc.abstractmethod
    def posterior_kl(self, x0: Tensor, xt: Tensor, t: Tensor, kernel: Any, table: Any) -> Tensor:
        """KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) per example, in nats, for t >= 2 (rows at
        t = 1 give a finite stand-in that the bound never uses); continuous time: the integrand."""

    @abc.abstractmethod
    def prior_kl(self, x0: Tensor, table: Any) -> Tensor:
        """KL(q(x_T | x_0) || p(x_T)) per example, in nats (exact)."""

    @abc.abstractmethod
    def edge_reference(self, x0: Tensor, table: Any) -> Tensor:
        """H_q(X_1 | X_0) per example, in nats: what a perfect decoder term would cost."""

    @abc.abstractmethod
    def eq14_offset(self, x0: Tensor, table: Any) -> Tensor:
        """H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T) per example (eq. 14's edge terms), in nats."""

    @abc.abstractmethod
    def log_null(self, x0: Tensor) -> Tensor:
        """Per-example log-likelihood of the null model (paper's L_null), in nats."""


class DiscreteProcess(DiffusionProcess):
    """A chain of T steps: a schedule table, one network position per step, exact steps to sample."""

    @abc.abstractmethod
    def table(self) -> ScheduleTable:
        """The schedule table (float64; differentiable if the schedule is learned)."""

    @abc.abstractmethod
    def time_coordinate(self) -> Tensor:
        """(T+1,) float32 position of each step in [0, 1], fixed at construction, for networks."""

    def network_time(self, t: Tensor, table: Any) -> tuple[Tensor, Tensor]:
        return t, gather(self.time_coordinate(), t)

    def at_decoder(self, t: Tensor) -> Tensor:
        return t == 1

    def discretized(self, steps: int | None, profile: Any = None) -> "DiscreteProcess":
        if steps is not None and steps != self.T:
            raise ConfigError(f"this run's chain has T = {self.T} steps; a different number of steps (--steps "
                              f"{steps}) is for continuous-time runs (--process continuous)")
        return self

    def expected_terms(self) -> Tensor | None:
        """Each step's expected term of the bound per dimension (t = 1..T), where a chain knows it
        in advance (a continuous-time run's profiled chain); None otherwise."""
        return None

    @abc.abstractmethod
    def cv_reference(self, table: ScheduleTable) -> Tensor:
        """(T,) starting control-variate coefficients a_t, t = 1..T, before training refines them."""

    # -- whole trajectories: the densities behind w = p(x_{0:T}) / q(x_{1:T} | x_0) -------------
    @abc.abstractmethod
    def forward_step(self, x_prev: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> Tensor:
        """A draw of x_t from the forward kernel q(x_t | x_{t-1}), float64; ``noise`` is drawn by
        ``noise_like`` (so one source of randomness serves both q_sample and this)."""

    @abc.abstractmethod
    def forward_log_prob(self, xt: Tensor, x_prev: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
        """log q(x_t | x_{t-1}) per example, in nats."""

    @abc.abstractmethod
    def reverse_log_prob(self, x_prev: Tensor, kernel: Any) -> Tensor:
        """log p(x_{t-1} | x_t) per example, in nats, for a kernel from ``reverse`` (at t = 1 the
        decoder p(x_0 | x_1))."""

    @abc.abstractmethod
    def prior_log_prob(self, xT: Tensor) -> Tensor:
        """log p(x_T) per example, in nats."""

    # -- the probability-flow ODE (processes with continuous states and a score) ----------------
    # The flow runs in a clock v of the process's choosing, increasing from the data to the noise.
    def flow_span(self, table: ScheduleTable) -> tuple[float, float]:
        """(v_start, v_end): the flow carries the data at the first step's noise level v_start to the
        prior p(x_T) at v_end. Processes with no probability-flow ODE raise the ConfigError that
        says so (callers check through this method first)."""
        raise ConfigError(f"{type(self).__name__} has no probability-flow ODE (it needs continuous states and a "
                          "score); --ode applies to Gaussian diffusion only")

    def flow_times(self, table: ScheduleTable) -> Tensor:
        """(T+1,) the clock time v_t of each step (between steps, predictions are interpolated in v)."""
        raise ConfigError(f"{type(self).__name__} has no probability-flow ODE")

    def data_prediction(self, kernel: Any, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
        """x0_hat(x_t, t), the kernel's prediction of the data (float64), from which the flow's score comes."""
        raise ConfigError(f"{type(self).__name__} does not predict the data from its kernel")

    def flow_drift(self, x: Tensor, x0_hat: Tensor, v: Tensor, table: ScheduleTable) -> Tensor:
        """dx/dv of the probability-flow ODE at clock times v ((B,) float64), with the score built
        from the data prediction x0_hat(x, v)."""
        raise ConfigError(f"{type(self).__name__} has no probability-flow ODE")

    # -- sampling, the null model and entropies -------------------------------------------------
    @abc.abstractmethod
    def sample_prior(self, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
        """x_T ~ p(x_T), float64."""

    @abc.abstractmethod
    def sample_step(self, kernel: Any, generator: torch.Generator | None) -> Tensor:
        """x_{t-1} ~ p(x_{t-1} | x_t), float64."""

    @abc.abstractmethod
    def entropy_bounds(self, table: ScheduleTable, x0: Tensor) -> tuple[Tensor, Tensor]:
        """(lower, upper) bounds on H_q(X_{t-1}|X_t) per data element, t = 1..T (eq. 24), nats;
        ``x0`` is a sample of the data, for processes whose bounds depend on it."""

    @abc.abstractmethod
    def kernel_entropy(self, kernel: Any) -> Tensor:
        """Per-element entropy of the reverse kernel, in nats (to draw next to eq. 24's bounds)."""
