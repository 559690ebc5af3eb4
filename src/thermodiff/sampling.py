"""Exact ancestral sampling from the reverse process, and trajectories for figures."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

from .model import DiffusionModel


@torch.no_grad()
def sample(model: DiffusionModel, shape: tuple[int, ...], n: int, generator: torch.Generator | None,
           device: torch.device, keep: Iterable[int] = (), batch: int = 8192) -> tuple[Tensor, dict[int, Tensor]]:
    """x_T ~ p(x_T), then x_{t-1} ~ p(x_{t-1} | x_t) for t = T..1 (the decoder last).

    Returns x_0 (n, *shape) in normalized coordinates (float64) and the states x_t at the steps
    listed in ``keep`` (0..T), for trajectory figures.
    """
    keep = set(keep)
    outs, kept = [], {t: [] for t in keep}
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x, states = _chain(model, shape, m, generator, device, keep)
        outs.append(x)
        for t, v in states.items():
            kept[t].append(v)
    return torch.cat(outs), {t: torch.cat(v) for t, v in kept.items()}


def _chain(model: DiffusionModel, shape, n, generator, device, keep) -> tuple[Tensor, dict[int, Tensor]]:
    process = model.process
    table = process.table()
    x = process.sample_prior((n, *shape), generator, device)
    states = {model.T: x} if model.T in keep else {}
    for t in range(model.T, 0, -1):
        steps = torch.full((n,), t, device=device, dtype=torch.long)
        x = process.sample_step(model.kernel(x, steps, table), generator)
        if t - 1 in keep:
            states[t - 1] = x
    return x, states


@torch.no_grad()
def forward_states(model: DiffusionModel, x0: Tensor, steps: Iterable[int], generator: torch.Generator | None) -> dict[int, Tensor]:
    """Draws of x_t ~ q(x_t | x_0) at each listed step (the forward trajectory's marginals)."""
    process = model.process
    table = process.table()
    out = {}
    for t in steps:
        tt = torch.full((x0.shape[0],), t, device=x0.device, dtype=torch.long)
        out[t] = x0 if t == 0 else process.q_sample(x0, tt, process.noise_like(x0, generator), table)
    return out


@torch.no_grad()
def drift(model: DiffusionModel, points: Tensor, t: int) -> Tensor:
    """mu(x_t, t) - x_t at ``points``: where the reverse step moves probability mass (paper Fig. 1)."""
    table = model.process.table()
    steps = torch.full((points.shape[0],), t, device=points.device, dtype=torch.long)
    return model.kernel(points, steps, table).mean - points


@torch.no_grad()
def reverse_entropy(model: DiffusionModel, x0: Tensor, generator: torch.Generator | None,
                    steps: list[int] | None = None) -> Tensor:
    """Mean per-element entropy of p(x_{t-1} | x_t) over x_t ~ q(x_t | x_0), for t in ``steps``
    (default: every t = 1..T), in nats."""
    process = model.process
    table = process.table()
    steps = list(range(1, model.T + 1)) if steps is None else steps
    out = torch.empty(len(steps), dtype=torch.float64)
    for i, t in enumerate(steps):
        tt = torch.full((x0.shape[0],), t, device=x0.device, dtype=torch.long)
        xt = process.q_sample(x0, tt, process.noise_like(x0, generator), table)
        out[i] = process.kernel_entropy(model.kernel(xt, tt, table)).mean().cpu()
    return out
