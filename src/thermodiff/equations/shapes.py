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
    """(B, ...) -> (B,): the sum over everything but the batch dimension.

    Two numbers or one per example (2-D toy data) are added by a product with ones: a single
    addition a + b has one rounding whichever way it is done, so the result is .sum's to the bit,
    and a reduction over such short rows costs ten times as much (the bound takes four a step)."""
    x = x.flatten(1)
    if x.shape[1] <= 2:
        return x @ x.new_ones(x.shape[1])
    return x.sum(dim=1)
