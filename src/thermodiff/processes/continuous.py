"""Continuous-time Gaussian diffusion: the talk's limit of infinitely many small steps as a process.

Forward: q(z_t | x) = N(alpha_t x, sigma_t^2 I), variance preserving, t in [0, 1], with the
schedule gamma(t) = -log SNR(t) of gamma.py. Model: x_hat(z_t, t) from the network through a skip
path (equations/continuous.py), and the bound of equations/continuous.py: the decoder's exact
cost, the continuous-time limit L_infinity estimated at drawn times, and the prior's KL.

For sampling, posteriors and scoring step by step, ``discretized(N, profile)`` gives the N-step
model: the Gaussian chain whose states are z at times 0 = t_0 < ... < t_N = 1 plus the data,
whose reverse steps have the mean of q(z_s | z_t, x = x_hat(z_t, t)), and whose first step is the
decoder. Without a profile the times are uniform and the variance is the posterior's own (the
``fixed`` parameterization); this chain's discrete-time bound K_N <= K (Kingma et al. 2021,
Sec. 4). With a ``DenoisingProfile`` (x_hat's error measured on training data), each step's
variance is the analytic one (Bao et al. 2022) and the times are those that minimize the
expected bound given that error (Watson et al. 2021): far fewer bits lost per step removed.
``evaluate --steps N`` shows how many.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..equations import continuous as c
from ..equations.gaussian import normal_entropy
from ..equations.reverse import Parameterization
from ..equations.shapes import per_example
from ..errors import ConfigError
from ..gamma import GammaSchedule, GammaTable
from ..schedule import Schedule
from .gaussian_noise import GaussianNoise
from .base import DiffusionConfig, DiffusionProcess, DiscreteProcess, ProcessKind
from .gaussian import GaussianDiffusion


@dataclass(frozen=True)
class DenoisingProfile:
    """e(t), the mean squared error per dimension of x_hat(z_t, t) on training examples, at candidate
    times 0 = t_0 < ... < t_K = 1 (float64). It fixes the N-step chain's grid and its steps' analytic
    variances (``discretized``): both are parts of that model, chosen on training data."""

    times: Tensor
    mse: Tensor


def interpolate(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear f at x from values fp at increasing xp (x inside [xp[0], xp[-1]])."""
    right = torch.searchsorted(xp, x).clamp(1, xp.numel() - 1)
    w = (x - xp[right - 1]) / (xp[right] - xp[right - 1])
    return fp[right - 1] + w * (fp[right] - fp[right - 1])


@dataclass(frozen=True)
class ContinuousKernel:
    """x_hat(z_t, t) and the schedule at t, per row (float64)."""

    x0_hat: Tensor
    gamma: Tensor
    slope: Tensor


class ContinuousDiffusion(GaussianNoise, DiffusionProcess):
    """q(z_t | x) = N(alpha_t x, sigma_t^2 I) for t in [0, 1]; p(z_1) = N(0, I)."""

    out_channels = 1
    continuous = True
    discrete_time = False

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        if Parameterization(config.parameterization) is not Parameterization.POSTERIOR:
            raise ConfigError("the continuous-time process predicts x through its own skip path; "
                              "--parameterization does not apply to it")
        self.schedule = GammaSchedule(config.schedule, config.gamma_0, config.gamma_1)

    def table(self) -> GammaTable:
        return GammaTable(self.schedule)

    def network_time(self, t: Tensor, table: GammaTable) -> tuple[Tensor, Tensor]:
        gamma, _ = table.at(t)
        return torch.zeros_like(t, dtype=torch.long), self.schedule.coordinate(gamma).to(torch.float32)

    def discretized(self, steps: int | None, profile: DenoisingProfile | None = None) -> DiscreteProcess:
        N = self.T if steps is None else int(steps)
        if N < 1:
            raise ConfigError(f"--steps must be at least 1, got {steps}")
        with torch.no_grad():
            times, mse = self.grid(N, profile)
            gamma = self.schedule.gamma(times)
            log_abar = torch.nn.functional.logsigmoid(-gamma)  # z at t_i is the chain's state i + 1
            beta = -torch.expm1(torch.diff(log_abar, prepend=torch.zeros_like(log_abar[:1])))
            time = torch.cat([torch.zeros(1, dtype=torch.float32, device=gamma.device),
                              self.schedule.coordinate(gamma).to(torch.float32)])
            x0_mse = None if mse is None else torch.cat([torch.zeros_like(mse[:1]), mse])
        config = replace(self.config, process=ProcessKind.GAUSSIAN, T=N + 1, parameterization=Parameterization.FIXED)
        return GaussianDiffusion(config, schedule=Schedule.of_betas(beta), time=time, x0_mse=x0_mse)

    def grid(self, N: int, profile: DenoisingProfile | None) -> tuple[Tensor, Tensor | None]:
        """The N-step chain's times t_0 = 0 < ... < t_N = 1 and the error of x_hat at each: uniform
        without a profile; with one, the candidates that minimize the expected bound (``best_grid``),
        or, for N at least the number of candidate steps, uniform with the error interpolated."""
        device = self.schedule.ends.device
        uniform = torch.linspace(0.0, 1.0, N + 1, dtype=torch.float64, device=device)
        if profile is None:
            return uniform, None
        t, e = profile.times.to(device), profile.mse.to(device)
        if N < t.numel() - 1:
            chosen = c.best_grid(self.schedule.gamma(t), e, N)
            return t[chosen], e[chosen]
        return uniform, interpolate(uniform, t, e)

    # -- the forward process and its randomness ------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor, table: GammaTable) -> Tensor:
        gamma, _ = table.at(t)
        return c.q_sample(x0, per_example(gamma, x0), noise)

    def control_reference(self, t: Tensor) -> Tensor:
        """a(t) = gamma'(t) alpha_t^4 / 2, the coefficient of sum(eps^2) in L_infinity's integrand for
        unit-variance Gaussian data (where x - x_hat = sigma^2 x - alpha sigma eps)."""
        gamma, slope = self.schedule.gamma_and_slope(t)
        return 0.5 * slope * torch.sigmoid(-gamma) ** 2

    # -- the model and the bound -----------------------------------------------------------------
    def reverse(self, net_out: Tensor, xt: Tensor, t: Tensor, table: GammaTable) -> ContinuousKernel:
        gamma, slope = table.at(t)
        x0_hat = c.x_prediction(xt, per_example(gamma, xt), net_out[:, 0])
        return ContinuousKernel(x0_hat=x0_hat, gamma=gamma, slope=slope)

    def at_decoder(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t, dtype=torch.bool)

    def decoder_expectation(self, x0: Tensor, table: GammaTable) -> Tensor:
        gamma_0, _ = table.schedule.endpoints()
        return c.decoder_nll(gamma_0, x0[0].numel()).expand(x0.shape[0])

    def decoder_nll(self, x0: Tensor, kernel: ContinuousKernel) -> Tensor:
        raise TypeError("the continuous-time decoder's cost is exact (decoder_expectation); no rows are drawn for it")

    def posterior_kl(self, x0: Tensor, xt: Tensor, t: Tensor, kernel: ContinuousKernel, table: GammaTable) -> Tensor:
        """L_infinity's integrand at the drawn times (the limit of the steps' KLs)."""
        loss = c.diffusion_loss(x0, kernel.x0_hat, kernel.gamma, kernel.slope)
        table.holder["scale"] = 2.0 * loss.detach()  # a learned shape follows the variance's gradient
        return loss

    def prior_kl(self, x0: Tensor, table: GammaTable) -> Tensor:
        _, gamma_1 = table.schedule.endpoints()
        return c.prior_kl(x0, gamma_1)

    def edge_reference(self, x0: Tensor, table: GammaTable) -> Tensor:
        return torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)

    def eq14_offset(self, x0: Tensor, table: GammaTable) -> Tensor:
        """H_q(Z_1|X) - H_q(Z_0|X) - H_p(Z_1) per example: D/2 (log sigma_1^2 - log sigma_0^2 - 1 - log 2 pi)."""
        gamma_0, gamma_1 = table.schedule.endpoints()
        per_dim = (normal_entropy(torch.nn.functional.logsigmoid(gamma_1)) - normal_entropy(torch.nn.functional.logsigmoid(gamma_0))
                   - normal_entropy(torch.zeros_like(gamma_0)))
        return (per_dim * x0[0].numel()).expand(x0.shape[0])
