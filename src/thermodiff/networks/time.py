"""How networks see time: the paper's normalized Gaussian bump functions g_j(t) (App. D.2.1)."""

from __future__ import annotations

import torch
from torch import Tensor


def bump_centres(J: int) -> Tensor:
    """tau_j, J centres spread evenly over the time coordinate [0, 1]."""
    return torch.linspace(0.0, 1.0, J) if J > 1 else torch.full((1,), 0.5)


def bumps(s: Tensor, centres: Tensor) -> Tensor:
    """g_j(s) = exp(-(s - tau_j)^2 / (2 w^2)) / sum_k exp(-(s - tau_k)^2 / (2 w^2)), w = half the spacing.

    s: (B,) time coordinate in [0, 1]; returns (B, J), each row summing to one.

    Bumps far from s underflow: weights below the dtype's smallest normal number are set to 0.
    They cannot change any sum they enter (each row has a weight of at least 1/J), but as
    denormal numbers they slow every matrix product that sees them several times over on CPUs.
    """
    J = centres.numel()
    w = 0.5 / max(J - 1, 1)
    logits = -((s[:, None] - centres[None, :]) ** 2) / (2.0 * w * w)
    g = torch.softmax(logits, dim=1)
    return torch.where(g < torch.finfo(g.dtype).tiny, 0.0, g)
