"""The paper's image network: multi-scale convolutions, 1x1 convolutions, a readout mixed over time.

Sohl-Dickstein et al. (2015), App. D.2.1: several multi-scale convolution layers (mean-pool the
input to each of several scales, convolve at that scale, upsample back to full resolution, sum
over scales), then 1x1 convolution layers, then a per-pixel linear readout of 2J coefficients
that the normalized Gaussian bump functions g_j(t) mix into z_mu and z_Sigma:
z_mu = sum_j y_j^mu g_j(t), z_Sigma likewise. For MNIST and CIFAR-10 a dense (fully connected)
pathway runs beside the convolutions; as in the authors' code its output is a few channels per
pixel, joined to the convolutional features before the 1x1 layers.

What differs from the paper, and why (each is cheap):
- Time also enters every layer: g(t) is projected to a per-channel bias inside each block (in
  the paper time enters only through the readout). One network then serves coarse and fine
  steps, which the readout alone cannot do for features that should depend on the noise level.
- Blocks are pre-activation residual blocks, h + conv(silu(GroupNorm(h) + U g(t))), with SiLU in
  place of softplus / leaky ReLU / tanh: deeper stacks train at a fixed learning rate without
  tuning, and GroupNorm keeps activations at unit scale whatever the noise level of x_t.
- A k x k stem lifts the C input channels to the working width (needed by the residual form).
- The bump mixture is applied to the readout *weights* per example, sum_j g_j(t) W_j, before
  the per-pixel product: the same function as mixing J outputs, J times fewer operations.
- Sizes need not be powers of two: pooling uses ceil mode (edge blocks average only the pixels
  they cover) and upsampling repeats each coarse pixel and crops to the exact size, so every
  scale is the exact block average of the input, spread back over its block.

The readout starts at zero, so an untrained network outputs z = 0 (see reverse.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import option
from ..errors import ConfigError
from .mlp import ResidualBlock
from .time import bump_centres, bumps


@dataclass(frozen=True)
class MultiScaleConfig:
    """Width, depth, scales and time handling of the multi-scale convolutional network."""

    channels: int = option(64, "channels of every convolutional layer")
    multiscale_layers: int = option(3, "multi-scale convolution blocks (pool, convolve, upsample, sum)")
    pointwise_layers: int = option(2, "1x1 convolution blocks after the multi-scale ones")
    scales: int = option(0, "scales per multi-scale layer, pooling by 1, 2, 4, ... (0: halve down to coarsest-size)")
    coarsest_size: int = option(4, "smallest side in pixels of the coarsest scale when scales = 0")
    kernel_size: int = option(3, "side of the convolution kernels (odd)")
    time_bumps: int = option(12, "J, bump functions g_j(t) that mix the readout over time and bias every block")
    norm_groups: int = option(8, "GroupNorm groups in every block (must divide channels; 0: no normalization)")
    dense: int = option(0, "width of the dense pathway beside the convolutions (0: no dense pathway)")
    dense_layers: int = option(2, "residual blocks of the dense pathway")
    dense_channels: int = option(2, "channels per pixel that the dense pathway hands to the 1x1 layers")

    def __post_init__(self) -> None:
        positive = ("channels", "kernel_size", "time_bumps", "coarsest_size", "dense_channels")
        non_negative = ("multiscale_layers", "pointwise_layers", "scales", "norm_groups", "dense", "dense_layers")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"multiscale.{name} must be at least 1, got {getattr(self, name)}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"multiscale.{name} must not be negative, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"multiscale.kernel_size must be odd (same-size convolutions), got {self.kernel_size}")
        if self.norm_groups and self.channels % self.norm_groups:
            raise ConfigError(f"multiscale.norm_groups ({self.norm_groups}) must divide channels ({self.channels})")


def automatic_scales(height: int, width: int, min_size: int) -> int:
    """How many scales 1, 2, 4, ... keep the coarsest image at least ``min_size`` pixels on a side
    (at least one scale, the full resolution)."""
    n = 1
    while math.ceil(min(height, width) / 2**n) >= min_size:
        n += 1
    return n


def pool(x: Tensor, factor: int) -> Tensor:
    """Mean over blocks of factor x factor pixels; edge blocks average the pixels they cover."""
    return x if factor == 1 else F.avg_pool2d(x, factor, ceil_mode=True)


def unpool(y: Tensor, factor: int, size: tuple[int, int]) -> Tensor:
    """Spread each coarse pixel over its block and crop to ``size``: the adjoint layout of ``pool``."""
    if factor == 1:
        return y
    return F.interpolate(y, scale_factor=factor, mode="nearest")[..., : size[0], : size[1]]


def norm(groups: int, channels: int) -> nn.Module:
    return nn.GroupNorm(groups, channels) if groups else nn.Identity()


class MultiScaleConv(nn.Module):
    """App. D.2.1: sum over scales k of upsample_k(conv_k(meanpool_k(h))), pooling factor 2^k."""

    def __init__(self, channels: int, kernel: int, n_scales: int):
        super().__init__()
        self.factors = [2**k for k in range(n_scales)]
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel, padding=kernel // 2) for _ in self.factors)

    def forward(self, h: Tensor) -> Tensor:
        size = (h.shape[-2], h.shape[-1])
        return sum(unpool(conv(pool(h, f)), f, size) for f, conv in zip(self.factors, self.convs))


class Block(nn.Module):
    """h + mix(silu(GroupNorm(h) + U g(t))), where mix is a multi-scale or a 1x1 convolution."""

    def __init__(self, mix: nn.Module, channels: int, n_time: int, groups: int):
        super().__init__()
        self.norm = norm(groups, channels)
        self.time = nn.Linear(n_time, channels, bias=False)
        self.mix = mix

    def forward(self, h: Tensor, g: Tensor) -> Tensor:
        return h + self.mix(F.silu(self.norm(h) + self.time(g)[:, :, None, None]))


class DensePathway(nn.Module):
    """The fully connected pathway (paper: MNIST, CIFAR-10): x_t flattened and g(t) -> residual MLP
    -> ``dense_channels`` maps of the image size -> a 1x1 convolution to the conv channels. Adding
    that to the conv features equals concatenating the maps before a 1x1 layer (the authors' code)."""

    def __init__(self, data_shape: tuple[int, int, int], config: MultiScaleConfig):
        super().__init__()
        C, H, W = data_shape
        self.size = (H, W)
        self.inp = nn.Linear(C * H * W + config.time_bumps, config.dense)
        self.blocks = nn.ModuleList(ResidualBlock(config.dense, config.time_bumps) for _ in range(config.dense_layers))
        self.out = nn.Linear(config.dense, config.dense_channels * H * W)
        self.lift = nn.Conv2d(config.dense_channels, config.channels, 1)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        u = self.inp(torch.cat([x.flatten(1), g], dim=1))  # (B, dense)
        for block in self.blocks:
            u = block(u, g)
        maps = self.out(F.silu(u)).reshape(x.shape[0], -1, *self.size)  # (B, dense_channels, H, W)
        return self.lift(maps)  # (B, width, H, W)


class BumpReadout(nn.Module):
    """z = sum_j g_j(t) (W_j h + b_j) per pixel, with W_j, b_j zero at the start (App. D.2.1)."""

    def __init__(self, channels: int, n_out: int, n_time: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_time, n_out, channels))
        self.bias = nn.Parameter(torch.zeros(n_time, n_out))

    def forward(self, h: Tensor, g: Tensor) -> Tensor:
        weight = torch.einsum("bj,jkc->bkc", g, self.weight)  # (B, n_out, channels): mixed over time
        bias = g @ self.bias  # (B, n_out)
        return torch.einsum("bkc,bchw->bkhw", weight, h) + bias[:, :, None, None]


class MultiScaleConvNet(nn.Module):
    """x_t of shape (B, C, H, W), step t and time coordinate s -> z of shape (B, out_channels, C, H, W).

    Time enters through s in [0, 1] only (via the bumps); t is accepted for the common interface."""

    def __init__(self, config: MultiScaleConfig, data_shape: tuple[int, ...], out_channels: int, T: int):
        super().__init__()
        if len(data_shape) != 3:
            raise ValueError(f"the multi-scale network needs images of shape (C, H, W), got {tuple(data_shape)}")
        C, H, W = (int(n) for n in data_shape)
        self.config = config
        self.data_shape = (C, H, W)
        self.out_channels = out_channels
        width, J, groups = config.channels, config.time_bumps, config.norm_groups
        self.n_scales = config.scales or automatic_scales(H, W, config.coarsest_size)
        self.register_buffer("centres", bump_centres(J))
        self.stem = nn.Conv2d(C, width, config.kernel_size, padding=config.kernel_size // 2)
        self.multiscale = nn.ModuleList(
            Block(MultiScaleConv(width, config.kernel_size, self.n_scales), width, J, groups)
            for _ in range(config.multiscale_layers)
        )
        self.dense = DensePathway(self.data_shape, config) if config.dense else None
        self.pointwise = nn.ModuleList(
            Block(nn.Conv2d(width, width, 1), width, J, groups) for _ in range(config.pointwise_layers)
        )
        self.norm = norm(groups, width)
        self.readout = BumpReadout(width, out_channels * C, J)

    def forward(self, x: Tensor, t: Tensor, s: Tensor) -> Tensor:
        g = bumps(s.to(x.dtype), self.centres.to(x.dtype))  # (B, J), each row sums to one
        h = self.stem(x)  # (B, width, H, W)
        for block in self.multiscale:
            h = block(h, g)
        if self.dense is not None:
            h = h + self.dense(x, g)  # joined before the 1x1 layers, as in the authors' code
        for block in self.pointwise:
            h = block(h, g)
        z = self.readout(F.silu(self.norm(h)), g)  # (B, out_channels * C, H, W)
        return z.reshape(x.shape[0], self.out_channels, *self.data_shape)
