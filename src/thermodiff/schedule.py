"""Noise schedules beta_t, t = 1..T, and every quantity derived from them.

One float64 table drives everything. Tables have length T + 1 and are indexed by the step t:
entry 0 stands for the data itself (beta_0 = 0, alpha_bar_0 = 1), so ``alpha_bar[t - 1]``
reads as in the paper.

Schedules (selectable by name, see ``ScheduleKind``):
- ``paper``: beta_t = 1 / (T - t + 1) for t >= 2 with a small fixed beta_1 (Sohl-Dickstein
  et al. 2015, App. D). Each step erases a constant fraction of the signal that is left, so
  alpha_bar_t falls linearly to exactly 0 at t = T and q(x_T | x_0) is the prior itself.
- ``linear``: beta_t linear from beta_1 to a last value that is ``beta_max`` at T = 1000 and scales
  as 1000 / T otherwise, so that the total noise added stays the same (Ho et al. 2020 use 1e-4 ..
  0.02 for T = 1000).
- ``cosine``: alpha_bar_t = cos^2(((t/T + s) / (1 + s)) pi / 2) (Nichol & Dhariwal 2021).
- ``logsnr``: log(alpha_bar_t / (1 - alpha_bar_t)) falls linearly in t from that of beta_1 to its
  negative, so every step reveals about the same amount of detail (Kingma et al. 2021 show the
  bound depends on the schedule only through its end points as T grows; even spacing in log-SNR
  keeps each step's term, and its Monte Carlo noise, small).
- ``learned``: the paper's learned schedule: beta_2..T are parameters, trained by gradient
  ascent on the bound together with the network, starting from the ``paper`` schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .errors import ConfigError


class ScheduleKind(str, Enum):
    PAPER = "paper"
    LINEAR = "linear"
    COSINE = "cosine"
    LOGSNR = "logsnr"
    LEARNED = "learned"
    CONSTANT = "constant"  # continuous time only: the talk's constant rate (gamma.py)


# The largest beta a learned schedule may reach; beta = 1 has an infinite logit.
_BETA_CAP = 1.0 - 1e-6


def paper_betas(T: int, beta_1: float) -> Tensor:
    """beta_t = 1 / (T - t + 1), t = 2..T, with beta_1 fixed (paper, App. D)."""
    t = torch.arange(1, T + 1, dtype=torch.float64)
    beta = 1.0 / (T - t + 1.0)
    beta[0] = beta_1
    return beta


def linear_betas(T: int, beta_1: float, beta_max: float) -> Tensor:
    """beta_t linear in t from beta_1 to beta_max * 1000 / T (capped at 0.999): ``beta_max`` is the
    last beta of the 1000-step schedule, and other T keep its total noise."""
    return torch.linspace(beta_1, min(beta_max * 1000.0 / T, 0.999), T, dtype=torch.float64)


def cosine_betas(T: int, beta_1: float, s: float = 0.008) -> Tensor:
    """beta_t from alpha_bar_t = cos^2(((t/T + s)/(1 + s)) pi/2), capped below 1, beta_1 fixed."""
    u = torch.arange(0, T + 1, dtype=torch.float64) / T
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    beta = (1.0 - f[1:] / f[:-1]).clamp(max=0.999)
    beta[0] = beta_1
    return beta


def logsnr_betas(T: int, beta_1: float) -> Tensor:
    """beta_t from log-SNR lambda_t linear in t, from logit(1 - beta_1) at t = 1 to its negative at t = T."""
    lam_max = math.log((1.0 - beta_1) / beta_1)
    lam = torch.linspace(lam_max, -lam_max, T, dtype=torch.float64)
    log_abar = torch.nn.functional.logsigmoid(lam)
    log_abar_prev = torch.cat([torch.zeros(1, dtype=torch.float64), log_abar[:-1]])
    return -torch.expm1(log_abar - log_abar_prev)


@dataclass(frozen=True)
class ScheduleTable:
    """beta_t and every quantity derived from it, indexed by t = 0..T (float64, (T+1,) each;
    differentiable if the schedule is learned). Computed once per schedule, not per use."""

    beta: Tensor  # beta[0] = 0
    alpha: Tensor  # 1 - beta_t
    log_alpha_bar: Tensor  # log prod_{s<=t} (1 - beta_s); 0 at t = 0
    alpha_bar: Tensor
    one_minus_alpha_bar: Tensor  # by -expm1, precise where alpha_bar is close to 1 (small t)
    beta_tilde: Tensor  # posterior variance of q(x_{t-1}|x_t,x_0): beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 0, 1
    c_x0: Tensor  # posterior mean mu_tilde = c_x0 x_0 + c_xt x_t: sqrt(abar_{t-1}) beta_t / (1 - abar_t)
    c_xt: Tensor  # sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t)
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def T(self) -> int:
        return self.beta.shape[0] - 1

    def memo(self, key: str, compute: Callable[["ScheduleTable"], Any]) -> Any:
        """``compute(self)``, computed once per table: quantities derived from the schedule that the
        equations gather at every step (a fixed schedule keeps one table for the whole run)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]

    @property
    def logsnr(self) -> Tensor:
        """log(alpha_bar_t / (1 - alpha_bar_t)); +inf at t = 0, -inf where alpha_bar_t = 0."""
        return self.log_alpha_bar - torch.log(self.one_minus_alpha_bar)

    def detach(self) -> "ScheduleTable":
        """The same values without gradients (sampling never wants the schedule's); a table that
        carries none is returned as it is, with what it has computed."""
        if not self.beta.requires_grad:
            return self
        return ScheduleTable(**{f.name: getattr(self, f.name).detach() for f in fields(self) if f.name != "_memo"})


def _shifted(values: Tensor) -> Tensor:
    """values[t - 1] at index t (entry 0 is 0, unused)."""
    return torch.cat([torch.zeros_like(values[:1]), values[:-1]])


def table_from_betas(beta: Tensor) -> ScheduleTable:
    """Build the table from beta_1..T (a (T,) float64 tensor)."""
    full = torch.cat([torch.zeros_like(beta[:1]), beta])
    log_alpha_bar = torch.cumsum(torch.log1p(-full), dim=0)
    alpha_bar = torch.exp(log_alpha_bar)
    omab = -torch.expm1(log_alpha_bar)
    safe = torch.cat([torch.ones_like(omab[:1]), omab[1:]])  # t = 0 divides by nothing
    omab_prev, abar_prev = _shifted(omab), _shifted(alpha_bar)
    zero = torch.zeros_like(full[:1])
    return ScheduleTable(
        beta=full,
        alpha=1.0 - full,
        log_alpha_bar=log_alpha_bar,
        alpha_bar=alpha_bar,
        one_minus_alpha_bar=omab,
        beta_tilde=torch.cat([zero, (full * omab_prev / safe)[1:]]),
        c_x0=torch.cat([zero, (torch.sqrt(abar_prev) * full / safe)[1:]]),
        c_xt=torch.cat([zero, (torch.sqrt(1.0 - full) * omab_prev / safe)[1:]]),
    )


def fixed_betas(kind: ScheduleKind, T: int, beta_1: float, beta_max: float) -> Tensor:
    """beta_1..T of a fixed schedule (the learned one starts from the paper's)."""
    if kind in (ScheduleKind.PAPER, ScheduleKind.LEARNED):
        return paper_betas(T, beta_1)
    if kind is ScheduleKind.LINEAR:
        return linear_betas(T, beta_1, beta_max)
    if kind is ScheduleKind.COSINE:
        return cosine_betas(T, beta_1)
    if kind is ScheduleKind.LOGSNR:
        return logsnr_betas(T, beta_1)
    raise ConfigError(f"schedule {ScheduleKind(kind).value} is for the continuous-time process (--process continuous); "
                      "discrete-time processes take paper, linear, cosine, logsnr or learned")


class Schedule(nn.Module):
    """A schedule as a module: fixed (a buffer) or learned (beta_2..T are parameters).

    ``table()`` returns the float64 ScheduleTable; it carries gradients when learned.
    """

    def __init__(self, kind: ScheduleKind, T: int, beta_1: float, beta_max: float = 0.02, beta: Tensor | None = None):
        super().__init__()
        if T < 2:
            raise ConfigError(f"T must be at least 2, got {T}")
        if not 0.0 < beta_1 < 1.0:
            raise ConfigError(f"beta_1 must lie in (0, 1), got {beta_1}")
        self.kind = ScheduleKind(kind)
        beta = fixed_betas(self.kind, T, beta_1, beta_max) if beta is None else beta.to(torch.float64)
        if not bool(((beta > 0) & (beta <= 1)).all()):
            raise ConfigError(f"schedule {self.kind.value} with T={T} gives beta outside (0, 1]")
        self.register_buffer("beta_1", beta[:1].clone())
        if self.kind is ScheduleKind.LEARNED:
            # beta_2..T = sigmoid(theta): unconstrained parameters, started at the paper's values
            self.theta = nn.Parameter(torch.logit(beta[1:].clamp(max=_BETA_CAP)))
        else:
            self.register_buffer("betas", beta)
        self._cache: tuple | None = None

    @classmethod
    def of_betas(cls, beta: Tensor) -> "Schedule":
        """A fixed schedule with the given beta_1..T (a continuous-time schedule on a grid)."""
        return cls(ScheduleKind.LOGSNR, beta.numel(), float(beta[0]), beta=beta)

    @property
    def learned(self) -> bool:
        return self.kind is ScheduleKind.LEARNED

    def table(self) -> ScheduleTable:
        if self.learned:  # recomputed at every call: it carries the gradient to theta
            return table_from_betas(torch.cat([self.beta_1, torch.sigmoid(self.theta)]))
        key = (self.betas.device, self.betas._version)  # moved or loaded: rebuild
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, table_from_betas(self.betas))
        return self._cache[1]
