"""An adaptive Runge-Kutta solver (Dormand & Prince 1980, the RK45 of scipy and of Song et al. 2021)
for a batch of independent initial-value problems dy/du = f(u, y), one row of y per problem.

Every row keeps its own time and step size, so a row's solution does not depend on which other
rows share its batch (nor on how a data set is split across processes). Pure tensor math:
float64, no randomness; ``f`` receives the rows still running, with their own times and their
indices in the batch (for per-row parameters of the field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..errors import ConfigError

# Butcher tableau of DOPRI5: nodes c, stages a, 5th-order weights b (the solution) and the
# difference b - b* to the embedded 4th-order weights (the error estimate). The last stage is
# evaluated at the new point, so it is the next step's first stage ("first same as last").
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B_MINUS_BSTAR = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

Drift = Callable[[Tensor, Tensor, Tensor], Tensor]  # (u (b,), y (b, n), rows (b,)) -> dy/du (b, n)


@dataclass(frozen=True)
class Solution:
    y: Tensor  # (B, n) the state at u_end
    evaluations: Tensor  # (B,) long: evaluations of f spent on each row


def dopri5_step(f: Drift, u: Tensor, y: Tensor, h: Tensor, k1: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One Dormand-Prince step of per-row size h from (u, y), with k1 = f(u, y) given:
    (5th-order y_new, its local error estimate, f(u + h, y_new))."""
    hh = h[:, None]
    ks = [k1]
    for c, a in zip(_C[1:], _A[1:]):
        y_stage = y + hh * sum(coef * k for coef, k in zip(a, ks) if coef != 0.0)
        ks.append(f(u + c * h, y_stage, rows))
    y_new = y_stage  # the 7th stage's point is the 5th-order solution
    error = hh * sum(coef * k for coef, k in zip(_B_MINUS_BSTAR, ks) if coef != 0.0)
    return y_new, error, ks[-1]


def error_norm(error: Tensor, y: Tensor, y_new: Tensor, rtol: float, atol: float) -> Tensor:
    """Per row, the RMS of error / (atol + rtol max(|y|, |y_new|)): a step is accepted when <= 1."""
    scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
    return (error / scale).pow(2).mean(dim=1).sqrt()


def integrate(f: Drift, y0: Tensor, u_start: float, u_end: float, rtol: float, atol: float,
              max_steps: int = 100_000, progress: Callable[[float], None] | None = None) -> Solution:
    """y(u_end) for dy/du = f(u, y), y(u_start) = y0 ((B, n) float64), u_end > u_start, each row with its own
    adaptive step (standard controller: factor 0.9 err^(-1/5), kept within [0.2, 5]).
    ``progress`` receives the fraction of the whole batch's time span covered by each step."""
    B = y0.shape[0]
    span = u_end - u_start
    u = torch.full((B,), float(u_start), dtype=y0.dtype, device=y0.device)
    h = torch.full_like(u, 0.01 * span)
    running = torch.arange(B, device=y0.device)
    y, k1 = y0.clone(), f(u, y0, running)
    evaluations = torch.ones(B, dtype=torch.long, device=y0.device)
    for _ in range(max_steps):
        if running.numel() == 0:
            return Solution(y=y, evaluations=evaluations)
        r = running
        step = torch.minimum(h[r], u_end - u[r])
        y_new, error, k_new = dopri5_step(f, u[r], y[r], step, k1[r], r)
        evaluations[r] += 6
        err = error_norm(error, y[r], y_new, rtol, atol)
        ok = err <= 1.0
        factor = (0.9 * err.clamp(min=1e-10).pow(-0.2)).clamp(0.2, 5.0)
        h[r] = step * torch.where(ok, factor, factor.clamp(max=1.0))
        accepted, taken = r[ok], step[ok]
        # the last step lands on u_end exactly (u + (u_end - u) may round just short of it)
        last = taken >= u_end - u[accepted] - 1e-12 * abs(span)
        u[accepted] = torch.where(last, torch.full_like(taken, u_end), u[accepted] + taken)
        y[accepted], k1[accepted] = y_new[ok], k_new[ok]
        if progress is not None:
            progress(float(taken.sum()) / (span * B))
        running = running[u[running] < u_end]
    raise ConfigError(f"the ODE solver needed more than {max_steps} steps; loosen its tolerance (--ode-tolerance)")
