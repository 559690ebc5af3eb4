"""A U-Net for images: residual blocks, down- and up-sampling with skip connections, and
self-attention at the lowest resolution (the network of Ho et al. 2020 and Kingma et al. 2021,
small). Time enters every block as a per-channel bias from the bump functions g_j(t), as in the
multi-scale network; optional Fourier features of the input (Kingma et al.: sin and cos of
2^k pi x for the finest scales of 8-bit data). The output convolution starts at zero, so an
untrained network outputs z = 0 (see equations/reverse.py and equations/continuous.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import option
from ..errors import ConfigError
from .time import bump_centres, bumps


@dataclass(frozen=True)
class UNetConfig:
    """Widths, depth and extras of the U-Net."""

    unet_channels: int = option(64, "U-Net: channels at full resolution (doubled once, at the first down-sampling)")
    unet_levels: int = option(2, "U-Net: down-samplings by 2 (each level has its own residual blocks)")
    unet_blocks: int = option(2, "U-Net: residual blocks per level")
    unet_attention: bool = option(True, "U-Net: self-attention at the lowest resolution")
    unet_fourier: int = option(0, "U-Net: Fourier features of the input, sin and cos of 2^k pi x for k < this (0: none)")
    unet_time_bumps: int = option(12, "U-Net: J, bump functions g_j(t) of time")

    def __post_init__(self) -> None:
        for name, least in (("unet_channels", 8), ("unet_levels", 0), ("unet_blocks", 1), ("unet_fourier", 0),
                            ("unet_time_bumps", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be at least {least}, got {getattr(self, name)}")
        if self.unet_channels % 8:
            raise ConfigError(f"unet_channels must be a multiple of 8 (GroupNorm groups), got {self.unet_channels}")


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8, channels)


class ResBlock(nn.Module):
    """h -> skip(h) + conv(silu(norm(conv(silu(norm h)) + U g(t))))."""

    def __init__(self, c_in: int, c_out: int, n_time: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(n_time, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: Tensor, g: Tensor) -> Tensor:
        u = self.conv1(F.silu(self.norm1(h))) + self.time(g)[:, :, None, None]
        return self.skip(h) + self.conv2(F.silu(self.norm2(u)))


class Attention(nn.Module):
    """One-head self-attention over the pixels, residual, its output projection starting at zero."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: Tensor) -> Tensor:
        B, C, H, W = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(B, 3, C, H * W).unbind(1)
        weights = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(C), dim=-1)  # (B, HW, HW)
        return h + self.out((v @ weights.transpose(1, 2)).reshape(B, C, H, W))


class UNet(nn.Module):
    """x_t (B, C, H, W) and time -> outputs (B, out_channels, C, H, W)."""

    def __init__(self, config: UNetConfig, data_shape: tuple[int, int, int], out_channels: int):
        super().__init__()
        C = data_shape[0]
        self.config, self.out_channels, self.data_shape = config, out_channels, tuple(data_shape)
        self.register_buffer("centres", bump_centres(config.unet_time_bumps))
        J, widths = config.unet_time_bumps, [config.unet_channels * (2 if i else 1) for i in range(config.unet_levels + 1)]
        self.stem = nn.Conv2d(C * (1 + 2 * config.unet_fourier), widths[0], 3, padding=1)
        self.down = nn.ModuleList(nn.ModuleList(ResBlock(widths[max(i - 1, 0)] if b == 0 else w, w, J)
                                                for b in range(config.unet_blocks)) for i, w in enumerate(widths))
        self.middle = nn.ModuleList([ResBlock(widths[-1], widths[-1], J), ResBlock(widths[-1], widths[-1], J)])
        self.attention = Attention(widths[-1]) if config.unet_attention else nn.Identity()
        self.up = nn.ModuleList(nn.ModuleList(ResBlock((2 * w if b == 0 else w) if i == len(widths) - 1 else
                                                       (w + widths[i + 1] if b == 0 else w), w, J)
                                              for b in range(config.unet_blocks)) for i, w in enumerate(widths))
        self.head = nn.Sequential(_norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], out_channels * C, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def _features(self, x: Tensor) -> Tensor:
        if not self.config.unet_fourier:
            return x
        scales = math.pi * 2.0 ** torch.arange(self.config.unet_fourier, device=x.device, dtype=x.dtype)
        phase = x[:, :, None] * scales[None, None, :, None, None]  # (B, C, K, H, W)
        return torch.cat([x, torch.sin(phase).flatten(1, 2), torch.cos(phase).flatten(1, 2)], dim=1)

    def forward(self, x: Tensor, t: Tensor, s: Tensor) -> Tensor:
        g = bumps(s.to(x.dtype), self.centres.to(x.dtype))
        h, skips = self.stem(self._features(x)), []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, g)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2, ceil_mode=True)
        h = self.middle[1](self.attention(self.middle[0](h, g)), g)
        for i in reversed(range(len(self.up))):
            skip = skips[i]
            h = torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], dim=1)
            for block in self.up[i]:
                h = block(h, g)
        out = self.head(h)
        return out.reshape(x.shape[0], self.out_channels, *self.data_shape)
