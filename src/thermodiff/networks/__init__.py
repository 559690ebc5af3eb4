"""Networks: a network knows shapes and time, never files or training loops."""

from __future__ import annotations

from enum import Enum

from torch import nn

from .mlp import MLPConfig, Readout, TemporalMLP
from .multiscale import MultiScaleConfig, MultiScaleConvNet


class NetworkKind(str, Enum):
    MLP = "mlp"
    MULTISCALE = "multiscale"


def make_network(kind: NetworkKind, mlp: MLPConfig, data_shape: tuple[int, ...], out_channels: int, T: int,
                 multiscale: MultiScaleConfig = MultiScaleConfig()) -> nn.Module:
    if kind is NetworkKind.MLP:
        return TemporalMLP(mlp, data_shape, out_channels, T)
    if kind is NetworkKind.MULTISCALE:
        if len(data_shape) != 3:
            raise ValueError(f"the multi-scale network needs images (C, H, W); these examples have shape {data_shape}")
        return MultiScaleConvNet(multiscale, data_shape, out_channels, T)
    raise ValueError(f"unknown network {kind!r}; choose one of {[k.value for k in NetworkKind]}")


__all__ = ["MLPConfig", "MultiScaleConfig", "MultiScaleConvNet", "NetworkKind", "Readout", "TemporalMLP", "make_network"]
