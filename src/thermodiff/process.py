"""What a diffusion process provides to the model, the bound and the sampler.

A process owns its schedule and knows its forward kernel, how network outputs become a
reverse kernel, and each step's term of the bound. The bound, the training loop and the
sampler are written against this interface only; a new process is one new module that
subclasses ``DiffusionProcess`` and registers itself with ``register``.

The bound is always in the provable form (every term >= its true counterpart):
  -K = E[ell_1] + sum_{t=2}^T E[ell_t] + ell_prior,
  ell_1 = -log p(x_0 | x_1)                                   (decoder),
  ell_t = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))       (t >= 2),
  ell_prior = KL(q(x_T | x_0) || p(x_T)),
all in nats per example. The paper's eq. 14 replaces E[ell_1] by entropies (``eq14_offset``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .config import coerce_enums, option
from .reverse import Parameterization
from .schedule import ScheduleKind, ScheduleTable


class ProcessKind(str, Enum):
    GAUSSIAN = "gaussian"
    BINOMIAL = "binomial"


@dataclass(frozen=True)
class DiffusionConfig:
    """The forward process and the form of the reverse kernel."""

    process: ProcessKind = option(ProcessKind.GAUSSIAN, "diffusion process")
    T: int = option(1000, "number of diffusion steps (the paper used 40 for the Swiss roll)")
    schedule: ScheduleKind = option(ScheduleKind.LOGSNR, "noise schedule beta_t (logsnr: even steps in log signal-to-noise ratio)")
    beta_1: float = option(1e-5, "the first step's fixed, small beta_1 (sets the finest scale resolved)")
    beta_max: float = option(0.02, "last beta of the linear schedule (scaled by 1000/T)")
    parameterization: Parameterization = option(
        Parameterization.POSTERIOR, "how network outputs become the reverse mean and variance"
    )
    pi: float | None = option(None, "binomial: stationary rate of the noise (default: the data's mean activity)")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if self.T < 2:
            raise ValueError(f"T must be at least 2, got {self.T}")


class DiffusionProcess(nn.Module, abc.ABC):
    """Forward process, reverse kernel and bound terms for one kind of state space."""

    #: network outputs per data element (e.g. 2 for a Gaussian: z_mu and z_Sigma)
    out_channels: int

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config

    @property
    def T(self) -> int:
        return self.config.T

    @abc.abstractmethod
    def table(self) -> ScheduleTable:
        """The schedule table (float64; differentiable if the schedule is learned)."""

    @abc.abstractmethod
    def time_coordinate(self) -> Tensor:
        """(T+1,) float32 position of each step in [0, 1], fixed at construction, for networks."""

    def network_input(self, xt: Tensor) -> Tensor:
        """What the network sees of x_t (the state itself unless a process says otherwise)."""
        return xt

    @abc.abstractmethod
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> Tensor:
        """A draw of x_t from q(x_t | x_0); ``noise`` is this process's source of randomness."""

    @abc.abstractmethod
    def noise_like(self, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        """The randomness ``q_sample`` consumes, drawn for a batch like ``x0``."""

    @abc.abstractmethod
    def antithetic(self, noise: Tensor) -> Tensor:
        """The mirror image of ``noise`` with the same distribution (for antithetic pairs)."""

    @abc.abstractmethod
    def noise_feature(self, noise: Tensor) -> Tensor:
        """u(noise) per example with E[u] = 0 exactly: the control variate (see timesteps.py)."""

    @abc.abstractmethod
    def noise_feature_variance(self, x0: Tensor) -> float:
        """Var[u(noise)] for one example like those of ``x0`` (exact)."""

    @abc.abstractmethod
    def cv_reference(self, table: ScheduleTable) -> Tensor:
        """(T,) starting control-variate coefficients a_t, t = 1..T, before training refines them."""

    @abc.abstractmethod
    def reverse(self, net_out: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> Any:
        """The reverse kernel p(x_{t-1} | x_t) from network outputs of shape (B, out_channels, *shape)."""

    @abc.abstractmethod
    def term(self, x0: Tensor, xt: Tensor, t: Tensor, kernel: Any, table: ScheduleTable) -> Tensor:
        """ell_t per example, in nats: decoder NLL at t = 1, the posterior KL for t >= 2."""

    @abc.abstractmethod
    def prior_term(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        """KL(q(x_T | x_0) || p(x_T)) per example, in nats (exact)."""

    @abc.abstractmethod
    def edge_reference(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        """H_q(X_1 | X_0) per example, in nats: what a perfect decoder term would cost."""

    @abc.abstractmethod
    def eq14_offset(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        """H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T) per example (eq. 14's edge terms), in nats."""

    @abc.abstractmethod
    def sample_prior(self, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
        """x_T ~ p(x_T), float64."""

    @abc.abstractmethod
    def sample_step(self, kernel: Any, generator: torch.Generator | None) -> Tensor:
        """x_{t-1} ~ p(x_{t-1} | x_t), float64."""

    @abc.abstractmethod
    def log_null(self, x0: Tensor) -> Tensor:
        """Per-example log-likelihood of the null model (paper's L_null), in nats."""

    @abc.abstractmethod
    def entropy_bounds(self, table: ScheduleTable, x0: Tensor) -> tuple[Tensor, Tensor]:
        """(lower, upper) bounds on H_q(X_{t-1}|X_t) per data element, t = 1..T (eq. 24), nats;
        ``x0`` is a sample of the data, for processes whose bounds depend on it."""

    @abc.abstractmethod
    def kernel_entropy(self, kernel: Any) -> Tensor:
        """Per-element entropy of the reverse kernel, in nats (to draw next to eq. 24's bounds)."""


_REGISTRY: dict[ProcessKind, Callable[[DiffusionConfig], DiffusionProcess]] = {}


def register(kind: ProcessKind) -> Callable[[type[DiffusionProcess]], type[DiffusionProcess]]:
    """Class decorator: make ``kind`` build this process."""

    def deco(cls: type[DiffusionProcess]) -> type[DiffusionProcess]:
        _REGISTRY[kind] = cls
        return cls

    return deco


def make_process(config: DiffusionConfig) -> DiffusionProcess:
    from . import binomial_process, gaussian_process  # noqa: F401  (they register themselves)

    try:
        return _REGISTRY[config.process](config)
    except KeyError:
        raise ValueError(f"no process registered for {config.process!r}") from None
