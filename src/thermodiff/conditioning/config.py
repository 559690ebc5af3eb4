"""How posterior samples are drawn: the method (which factor r_t multiplies each step) and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..config import coerce_enums, option
from ..errors import ConfigError


class Method(str, Enum):
    PAPER = "paper"
    DIFFUSED = "diffused"
    SMC = "smc"


class Resampling(str, Enum):
    SYSTEMATIC = "systematic"
    RESIDUAL = "residual"


@dataclass(frozen=True)
class PosteriorConfig:
    """How posterior samples are drawn."""

    method: Method = option(Method.DIFFUSED, "paper: r_t = r at every step (the paper's heuristic); diffused: the "
                                             "evidence carried back to each step by the model's prediction of x_0 "
                                             "(denoising z-scored data starts from the noisy data as a diffused state); "
                                             "smc: sequential Monte Carlo, --particles diffused chains per system, "
                                             "weighted and resampled, whose samples converge to the model's own "
                                             "posterior as the particles grow; also estimates log p(y)")
    n_samples: int = option(16, "posterior samples per observed example (smc: drawn from ceil(n_samples / "
                                "particles) independent systems per example)")
    particles: int = option(256, "smc: particles M per system. Each step costs what M diffused chains cost, plus "
                                 "one more pass of the network per particle for the twist r_t(x_t) (vectors up to "
                                 "--dense-max dimensions: one more Jacobian, about twice a diffused step); "
                                 "1 is the diffused method, started from noise")
    ess_threshold: float = option(0.5, "smc: resample a system when its effective sample size falls below this "
                                       "fraction of its particles (1: at every step; 0: never)")
    resampling: Resampling = option(Resampling.SYSTEMATIC, "smc: how a system resamples (both keep floor(M w_i) or "
                                                           "more copies of each particle; systematic is the less noisy)")
    seed: int = option(0, "sampling seed")
    chains: int = option(4096, "chains run at once (memory)")
    dense_max: int = option(64, "diffused method: up to this many dimensions, the exact Jacobian of x0_hat (dense "
                                "matrices); above it, for z-scored data, each coordinate on its own with the "
                                "kernel's variance (fast, for images)")
    coupling: bool = option(True, "diffused method, coordinate by coordinate: also carry evidence between "
                                  "coordinates to first order through the network's Jacobian (one backward pass "
                                  "per step; without it, correlated coordinates learn of each other only through "
                                  "the next step's prediction)")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be at least 1, got {self.n_samples}")
        if self.particles < 1:
            raise ConfigError(f"particles must be at least 1 (particles per system of the smc method), got {self.particles}")
        if not 0.0 <= self.ess_threshold <= 1.0:
            raise ConfigError(f"ess_threshold must lie in [0, 1] (a fraction of the particles), got {self.ess_threshold}")
        if self.chains < 1:
            raise ConfigError(f"chains must be at least 1, got {self.chains}")


