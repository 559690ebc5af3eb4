"""The paper's network for low-dimensional data: an MLP with a readout that depends on time.

Sohl-Dickstein et al. (2015) give the Swiss roll a shared hidden layer and a readout specific
to each time step. Here the trunk is a residual MLP that also sees the time through the bump
functions g_j(t), and the readout is either per step (the paper's Swiss roll form) or J
readouts mixed over time by the bumps (the form the paper uses for images). The readout starts
at zero, so an untrained network outputs z = 0 (see reverse.py for what that means).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor, nn

from ..config import coerce_enums, option
from ..errors import ConfigError
from .time import bump_centres, bumps


class Readout(str, Enum):
    BUMPS = "bumps"
    PER_STEP = "per_step"


@dataclass(frozen=True)
class MLPConfig:
    """Width, depth and time handling of the MLP."""

    width: int = option(128, "hidden units per layer")
    depth: int = option(3, "residual blocks of two layers each")
    bumps: int = option(16, "J, bump functions g_j(t) of time")
    readout: Readout = option(Readout.BUMPS, "readout mixed over time by bumps, or one per step")
    fourier: int = option(0, "random Fourier features of x_t fed to the network beside x_t (0: none)")
    fourier_scale: float = option(4.0, "standard deviation of the Fourier features' frequencies")

    def __post_init__(self) -> None:
        coerce_enums(self)
        for name, least in (("width", 1), ("depth", 0), ("bumps", 1), ("fourier", 0)):
            if getattr(self, name) < least:
                raise ConfigError(f"mlp.{name} must be at least {least}, got {getattr(self, name)}")
        if not self.fourier_scale > 0:
            raise ConfigError(f"mlp.fourier_scale must be positive, got {self.fourier_scale}")


class ResidualBlock(nn.Module):
    """h + W2 silu(W1 LayerNorm(h) + U g(t))."""

    def __init__(self, width: int, n_time: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Linear(width, width)
        self.time = nn.Linear(n_time, width, bias=False)
        self.outer = nn.Linear(width, width)

    def forward(self, h: Tensor, g: Tensor) -> Tensor:
        return h + self.outer(torch.nn.functional.silu(self.inner(self.norm(h)) + self.time(g)))


class TemporalMLP(nn.Module):
    """x_t of shape (B, *shape) and step t -> outputs (B, out_channels, *shape)."""

    def __init__(self, config: MLPConfig, data_shape: tuple[int, ...], out_channels: int, T: int):
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)
        self.out_channels = out_channels
        d = int(torch.tensor(self.data_shape).prod())
        width, J = config.width, config.bumps
        self.register_buffer("centres", bump_centres(J))
        # fixed random frequencies (a buffer, so checkpoints carry them)
        self.register_buffer("frequencies", config.fourier_scale * torch.randn(d, config.fourier // 2))
        self.inp = nn.Linear(d + 2 * (config.fourier // 2) + J, width)
        self.blocks = nn.ModuleList(ResidualBlock(width, J) for _ in range(config.depth))
        self.norm = nn.LayerNorm(width)
        n_out = out_channels * d
        self.readout_kind = Readout(config.readout)
        if self.readout_kind is Readout.BUMPS:
            self.readout = nn.Parameter(torch.zeros(J, width, n_out))
            self.readout_bias = nn.Parameter(torch.zeros(J, n_out))
        else:
            self.readout = nn.Parameter(torch.zeros(T + 1, width, n_out))
            self.readout_bias = nn.Parameter(torch.zeros(T + 1, n_out))

    def forward(self, x: Tensor, t: Tensor, s: Tensor) -> Tensor:
        g = bumps(s, self.centres)  # (B, J)
        x = x.flatten(1)
        phase = 2 * torch.pi * x @ self.frequencies
        h = self.inp(torch.cat([x, torch.sin(phase), torch.cos(phase), g], dim=1))
        for block in self.blocks:
            h = block(h, g)
        h = torch.nn.functional.silu(self.norm(h))
        if self.readout_kind is Readout.BUMPS:
            # z = sum_j g_j(t) (h W_j + b_j), all J readouts in one matrix product
            J, width, n_out = self.readout.shape
            y = (h @ self.readout.permute(1, 0, 2).reshape(width, J * n_out)).reshape(-1, J, n_out)
            out = ((y + self.readout_bias) * g[:, :, None]).sum(dim=1)
        else:
            out = torch.einsum("bw,bwk->bk", h, self.readout[t]) + self.readout_bias[t]
        return out.reshape(x.shape[0], self.out_channels, *self.data_shape)
