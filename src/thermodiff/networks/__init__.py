"""Networks: a network knows shapes and time, never files or training loops."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from torch import nn

from ..config import coerce_enums, option
from ..errors import ConfigError
from .mlp import MLPConfig, Readout, TemporalMLP
from .multiscale import MultiScaleConfig, MultiScaleConvNet
from .unet import UNet, UNetConfig


class NetworkKind(str, Enum):
    MLP = "mlp"
    MULTISCALE = "multiscale"
    UNET = "unet"


class Precision(str, Enum):
    FLOAT32 = "float32"
    BF16 = "bf16"  # the network under bfloat16 autocast (GPUs; CPUs where torch supports it)


@dataclass(frozen=True)
class ModelConfig:
    """Which network, and its settings."""

    network: NetworkKind = option(NetworkKind.MLP, "network architecture")
    precision: Precision = option(Precision.FLOAT32, "the network's arithmetic: float32, or bf16 (bfloat16 autocast, "
                                                     "for GPUs); the bound is always float64")
    mlp: MLPConfig = option(MLPConfig(), "MLP settings", cli=False)
    multiscale: MultiScaleConfig = option(MultiScaleConfig(), "multi-scale network settings", cli=False)
    unet: UNetConfig = option(UNetConfig(), "U-Net settings", cli=False)

    def __post_init__(self) -> None:
        coerce_enums(self)


def make_network(config: ModelConfig, data_shape: tuple[int, ...], out_channels: int, T: int) -> nn.Module:
    """The network of ``config`` for examples of ``data_shape`` and ``out_channels`` outputs per element."""
    if config.network is NetworkKind.MLP:
        return TemporalMLP(config.mlp, data_shape, out_channels, T)
    if len(data_shape) != 3:
        raise ConfigError(f"the {config.network.value} network needs images (C, H, W); these examples have shape {data_shape}")
    if config.network is NetworkKind.UNET:
        return UNet(config.unet, data_shape, out_channels)
    return MultiScaleConvNet(config.multiscale, data_shape, out_channels, T)


__all__ = ["MLPConfig", "ModelConfig", "Precision", "UNet", "UNetConfig", "MultiScaleConfig", "MultiScaleConvNet", "NetworkKind", "Readout", "TemporalMLP",
           "make_network"]
