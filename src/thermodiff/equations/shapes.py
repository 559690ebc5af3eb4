"""Shapes shared by the equations: per-step coefficients gathered at t, sums per example."""

from __future__ import annotations

from torch import Tensor


def per_example(values: Tensor, like: Tensor) -> Tensor:
    """(B,) values reshaped to broadcast against a batch ``like`` of shape (B, ...)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] reshaped to broadcast against a batch ``like`` of shape (B, ...)."""
    return per_example(values[t], like)


def sum_per_example(x: Tensor) -> Tensor:
    """(B, ...) -> (B,): the sum over everything but the batch dimension."""
    return x.flatten(1).sum(dim=1)
