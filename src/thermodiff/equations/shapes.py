"""Shapes shared by the equations: per-step coefficients gathered at t, sums per example."""

from __future__ import annotations

from torch import Tensor


def per_example(values: Tensor, like: Tensor) -> Tensor:
    """(B,) values reshaped to broadcast against a batch ``like`` of shape (B, ...)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def gather(values: Tensor, t: Tensor) -> Tensor:
    """values[t] for a (T+1,) table and steps ``t`` of any shape (index_select: the same numbers as
    indexing, without the cost of advanced indexing, which a training step pays a dozen times)."""
    return values.index_select(0, t.reshape(-1)).reshape(t.shape)


def at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] reshaped to broadcast against a batch ``like`` of shape (B, ...)."""
    return per_example(gather(values, t), like)


def sum_per_example(x: Tensor) -> Tensor:
    """(B, ...) -> (B,): the sum over everything but the batch dimension."""
    return x.flatten(1).sum(dim=1)
