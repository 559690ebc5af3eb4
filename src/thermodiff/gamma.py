"""Continuous-time noise schedules gamma(t), t in [0, 1]: the negative log signal-to-noise ratio.

q(z_t | x) = N(alpha_t x, sigma_t^2 I) with alpha_t^2 = sigmoid(-gamma(t)), sigma_t^2 = sigmoid(gamma(t)),
SNR(t) = exp(-gamma(t)), gamma increasing from gamma_0 (nearly the data) to gamma_1 (nearly the
prior). Kingma et al. (2021, variational diffusion models) show that the continuous-time bound
depends on gamma only through gamma_0 and gamma_1; the shape between them changes only the
variance of its Monte Carlo estimate. Each schedule here is fixed by its endpoints:

- ``logsnr``: gamma linear in t.
- ``constant``: the talk's constant rate beta, alpha_t = exp(-(b_0 + beta t) / 2), so
  gamma = log(expm1(b_0 + beta t)) with b = softplus(gamma) at the ends; its SNR'(t) gives the
  slide's weight beta csch^2(beta t' / 2) / 8 (t' = t + b_0 / beta).
- ``cosine``: SNR(t) = tan^2(pi u / 2)^-1 with u linear in t (Nichol & Dhariwal's cosine, in SNR).
- ``learned``: gamma = gamma_0 + (gamma_1 - gamma_0) S(t), with learned endpoints and a learned
  monotone shape S (S(0) = 0, S(1) = 1; Kingma et al.'s monotone network). The endpoints follow the
  bound's gradient; the shape follows the gradient of the estimator's variance
  (``variance_gradient``), since the bound does not depend on it.

Everything is float64; ``gamma_and_slope`` returns gamma(t) and d gamma / dt.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError
from .schedule import ScheduleKind

CONTINUOUS_SCHEDULES = (ScheduleKind.LOGSNR, ScheduleKind.CONSTANT, ScheduleKind.COSINE, ScheduleKind.LEARNED)


class MonotoneShape(nn.Module):
    """S(t) = (f(t) - f(0)) / (f(1) - f(0)), f(t) = a t + sum_k w_k sigmoid(u_k t + c_k) with
    a, w_k, u_k >= 0 (softplus): increasing, S(0) = 0, S(1) = 1. Starts (w ~ 0) nearly linear."""

    def __init__(self, features: int = 64):
        super().__init__()
        self.a = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.w = nn.Parameter(torch.full((features,), -6.0, dtype=torch.float64))
        self.u = nn.Parameter(torch.linspace(-1.0, 3.0, features, dtype=torch.float64))
        self.c = nn.Parameter(torch.linspace(-6.0, 6.0, features, dtype=torch.float64))

    def f(self, t: Tensor) -> Tensor:
        inner = torch.sigmoid(t[..., None] * F.softplus(self.u) - self.c)
        return F.softplus(self.a) * t + (inner * F.softplus(self.w)).sum(-1)

    def forward(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(S(t), S'(t))."""
        ends = self.f(torch.tensor([0.0, 1.0], dtype=torch.float64, device=t.device))
        span = ends[1] - ends[0]
        u = F.softplus(self.u)
        sig = torch.sigmoid(t[..., None] * u - self.c)
        slope = F.softplus(self.a) + (F.softplus(self.w) * u * sig * (1.0 - sig)).sum(-1)
        return (self.f(t) - ends[0]) / span, slope / span


class VarianceGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``holder['scale']`` (set after the
    forward pass, when the per-row loss L is known): with scale 2 L the parameters behind the input
    receive d(L^2)/d(theta), the gradient of the estimator's second moment, instead of dL/d(theta)."""

    @staticmethod
    def forward(ctx: Any, value: Tensor, holder: dict) -> Tensor:
        ctx.holder = holder
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        scale = ctx.holder.get("scale")
        return (grad if scale is None else grad * scale), None


class GammaSchedule(nn.Module):
    """gamma(t) on [0, 1] between its endpoints, and its slope (float64)."""

    def __init__(self, kind: ScheduleKind, gamma_0: float, gamma_1: float):
        super().__init__()
        self.kind = ScheduleKind(kind)
        if self.kind not in CONTINUOUS_SCHEDULES:
            names = ", ".join(k.value for k in CONTINUOUS_SCHEDULES)
            raise ConfigError(f"the continuous-time process takes --schedule {names}; got {self.kind.value}")
        if not gamma_0 < gamma_1:
            raise ConfigError(f"gamma_0 must be below gamma_1 (more signal at t = 0 than at t = 1), got {gamma_0} and {gamma_1}")
        self.reference = (float(gamma_0), float(gamma_1))  # fixes the network's time coordinate
        if self.kind is ScheduleKind.LEARNED:
            self.ends = nn.Parameter(torch.tensor([gamma_0, gamma_1], dtype=torch.float64))
            self.shape = MonotoneShape()
        else:
            self.register_buffer("ends", torch.tensor([gamma_0, gamma_1], dtype=torch.float64))

    def gamma_and_slope(self, t: Tensor, holder: dict | None = None) -> tuple[Tensor, Tensor]:
        """(gamma(t), d gamma/dt) for times t (float64). ``holder``: see VarianceGradient (learned only)."""
        g0, g1 = self.ends[0], self.ends[1]
        if self.kind is ScheduleKind.LOGSNR:
            return g0 + (g1 - g0) * t, (g1 - g0).expand_as(t)
        if self.kind is ScheduleKind.CONSTANT:
            b0, b1 = F.softplus(g0), F.softplus(g1)
            b = b0 + (b1 - b0) * t
            return torch.log(torch.expm1(b)), (b1 - b0) / -torch.expm1(-b)
        if self.kind is ScheduleKind.COSINE:
            u0, u1 = (2.0 / math.pi) * torch.atan(torch.exp(-g0 / 2)), (2.0 / math.pi) * torch.atan(torch.exp(-g1 / 2))
            angle = (math.pi / 2) * (u0 + (u1 - u0) * t)
            return -2.0 * torch.log(torch.tan(angle)), -2.0 * math.pi * (u1 - u0) / torch.sin(2.0 * angle)
        shape, slope = self.shape(t)
        if holder is not None:
            shape, slope = VarianceGradient.apply(shape, holder), VarianceGradient.apply(slope, holder)
        return g0 + (g1 - g0) * shape, (g1 - g0) * slope

    def gamma(self, t: Tensor) -> Tensor:
        return self.gamma_and_slope(t)[0]

    def coordinate(self, gamma: Tensor) -> Tensor:
        """The network's time input: gamma mapped to [0, 1] by the schedule's starting endpoints (a
        fixed map, so a learned schedule's shape leaves the network's view of each noise level alone)."""
        lo, hi = self.reference
        return (gamma - lo) / (hi - lo)

    def endpoints(self) -> tuple[Tensor, Tensor]:
        return self.ends[0], self.ends[1]


class GammaTable:
    """The schedule where one pass of the bound needs it: gamma(t) and its slope, computed once per
    tensor of times (q_sample, the network's time and the kernel all ask for the same t), and the
    per-row scale of a learned shape's variance gradient (set once the rows' losses are known)."""

    def __init__(self, schedule: GammaSchedule):
        self.schedule = schedule
        self.holder: dict = {}
        self._last: tuple[Tensor, tuple[Tensor, Tensor]] | None = None

    def at(self, t: Tensor) -> tuple[Tensor, Tensor]:
        if self._last is None or self._last[0] is not t:
            holder = self.holder if self.schedule.kind is ScheduleKind.LEARNED else None
            self._last = (t, self.schedule.gamma_and_slope(t.to(torch.float64), holder))
        return self._last[1]
