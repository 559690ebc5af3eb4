"""Networks: a network knows shapes and time, never files or training loops."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from torch import nn

from ..config import coerce_enums, option
from ..errors import ConfigError
from .mlp import MLPConfig, Readout, TemporalMLP
from .multiscale import MultiScaleConfig, MultiScaleConvNet


class NetworkKind(str, Enum):
    MLP = "mlp"
    MULTISCALE = "multiscale"


@dataclass(frozen=True)
class ModelConfig:
    """Which network, and its settings."""

    network: NetworkKind = option(NetworkKind.MLP, "network architecture")
    mlp: MLPConfig = option(MLPConfig(), "MLP settings", cli=False)
    multiscale: MultiScaleConfig = option(MultiScaleConfig(), "multi-scale network settings", cli=False)

    def __post_init__(self) -> None:
        coerce_enums(self)


def make_network(config: ModelConfig, data_shape: tuple[int, ...], out_channels: int, T: int) -> nn.Module:
    """The network of ``config`` for examples of ``data_shape`` and ``out_channels`` outputs per element."""
    if config.network is NetworkKind.MLP:
        return TemporalMLP(config.mlp, data_shape, out_channels, T)
    if len(data_shape) != 3:
        raise ConfigError(f"the multi-scale network needs images (C, H, W); these examples have shape {data_shape}")
    return MultiScaleConvNet(config.multiscale, data_shape, out_channels, T)


__all__ = ["MLPConfig", "ModelConfig", "MultiScaleConfig", "MultiScaleConvNet", "NetworkKind", "Readout", "TemporalMLP",
           "make_network"]
