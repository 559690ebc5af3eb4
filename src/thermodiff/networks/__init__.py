"""Networks: a network knows shapes and time, never files or training loops."""

from __future__ import annotations

from enum import Enum

from torch import nn

from .mlp import MLPConfig, Readout, TemporalMLP


class NetworkKind(str, Enum):
    MLP = "mlp"


def make_network(kind: NetworkKind, mlp: MLPConfig, data_shape: tuple[int, ...], out_channels: int, T: int) -> nn.Module:
    if kind is NetworkKind.MLP:
        return TemporalMLP(mlp, data_shape, out_channels, T)
    raise ValueError(f"unknown network {kind!r}; choose one of {[k.value for k in NetworkKind]}")


__all__ = ["MLPConfig", "NetworkKind", "Readout", "TemporalMLP", "make_network"]
