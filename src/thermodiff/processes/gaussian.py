"""Gaussian diffusion as a process: the schedule, equations/gaussian.py and equations/reverse.py."""

from __future__ import annotations

import torch
from torch import Tensor

from ..equations import gaussian as g
from ..equations.reverse import Parameterization, ReverseGaussian, analytic_log_var, predicted_x0, reverse_gaussian
from ..equations.shapes import per_example, sum_per_example
from ..schedule import Schedule, ScheduleTable
from .gaussian_noise import GaussianNoise
from .base import DiffusionConfig, DiscreteProcess


def logsnr_coordinate(table: ScheduleTable) -> Tensor:
    """Each step's place in [0, 1], uniform in log-SNR (fine scales get room of their own).

    t = 0 sits at 0; steps with alpha_bar_t = 0 (log-SNR = -inf) sit one unit past the last finite one.
    """
    lam = table.logsnr.detach().clone()
    finite = torch.isfinite(lam)
    lo = lam[finite & (torch.arange(lam.numel()) > 0)].min() - 1.0
    hi = lam[1]
    lam = lam.clamp(min=lo, max=hi)
    return ((hi - lam) / (hi - lo)).to(torch.float32)


class GaussianDiffusion(GaussianNoise, DiscreteProcess):
    """q(x_t | x_{t-1}) = N(x_{t-1} sqrt(1 - beta_t), beta_t I); p(x_T) = N(0, I)."""

    continuous = True

    def __init__(self, config: DiffusionConfig, schedule: Schedule | None = None, time: Tensor | None = None,
                 x0_mse: Tensor | None = None):
        """``schedule`` and ``time`` (the network's position of each step) replace those of
        ``config`` for a chain on a given grid (a continuous-time process's discretization);
        ``x0_mse`` (per step, (T + 1,)) gives the fixed kernel the analytic variance instead of
        the posterior's (equations/reverse.py, ``analytic_log_var``)."""
        super().__init__(config)
        self.schedule = schedule or Schedule(config.schedule, config.T, config.beta_1, config.beta_max)
        self.parameterization = Parameterization(config.parameterization)
        self.out_channels = 1 if self.parameterization is Parameterization.FIXED else 2  # z_mu (and z_Sigma)
        with torch.no_grad():
            self.register_buffer("_time", logsnr_coordinate(self.schedule.table()) if time is None else time)
            log_var = None if x0_mse is None else analytic_log_var(self.schedule.table(), x0_mse)
            self.register_buffer("_fixed_log_var", log_var, persistent=False)

    def expected_terms(self) -> Tensor | None:
        """With the analytic variance w_t, step t's expected KL is 1/2 log(w_t / beta_tilde_t) per
        dimension; the decoder's term (t = 1) is computed at every evaluation, so it counts as 0."""
        if self._fixed_log_var is None:
            return None
        table = self.table()
        kl = 0.5 * (self._fixed_log_var[2:] - torch.log(table.beta_tilde[2:]))
        return torch.cat([torch.zeros_like(kl[:1]), kl])

    def table(self) -> ScheduleTable:
        return self.schedule.table()

    def time_coordinate(self) -> Tensor:
        return self._time

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> Tensor:
        sqrt_abar, sqrt_one_minus = table.memo("q_sample_scales", _q_sample_scales)
        return g.at(sqrt_abar, t, x0) * x0 + g.at(sqrt_one_minus, t, x0) * noise

    def cv_reference(self, table: ScheduleTable) -> Tensor:
        """a_t for unit-variance Gaussian data, per dimension of the chi-square part of ell_t.

        There x_0 - E[x_0|x_t] = (1 - abar_t) x_0 - sqrt(abar_t (1 - abar_t)) eps, so the KL's
        eps^2 coefficient is c_x0^2 abar_t (1 - abar_t) / (2 Var), Var = beta_tilde_t + c_x0^2 (1 - abar_t).
        """
        abar, omab = table.alpha_bar[1:], table.one_minus_alpha_bar[1:]
        c2 = table.c_x0[1:] ** 2
        return (c2 * abar * omab / (2.0 * (table.beta_tilde[1:] + c2 * omab))).detach()

    def reverse(self, net_out: Tensor, xt: Tensor, t: Tensor, table: ScheduleTable) -> ReverseGaussian:
        return reverse_gaussian(self.parameterization, net_out[:, 0], net_out[:, -1], xt, t, table, self._fixed_log_var)

    def decoder_nll(self, x0: Tensor, kernel: ReverseGaussian) -> Tensor:
        return -sum_per_example(g.normal_log_prob(x0, kernel.mean, kernel.log_var))

    def posterior_kl(self, x0: Tensor, xt: Tensor, t: Tensor, kernel: ReverseGaussian, table: ScheduleTable) -> Tensor:
        mean_q = g.q_posterior_mean(x0, xt, t, table)
        log_var_q = g.at(table.memo("log_posterior_variance", _log_posterior_variance), t, x0)
        return sum_per_example(g.normal_kl(mean_q, log_var_q, kernel.mean, kernel.log_var))

    def prior_kl(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        """Per dimension 1/2 (abar_T x_0^2 - abar_T - log(1 - abar_T)), the KL of N(sqrt(abar_T) x_0, 1 - abar_T) from N(0, 1)."""
        abar, offset = table.memo("prior_kl_terms", _prior_kl_terms)
        return 0.5 * (abar * sum_per_example(x0 * x0) - offset * x0[0].numel())

    def edge_reference(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        h = table.memo("decoder_entropy", lambda tb: g.normal_entropy(torch.log(tb.beta[1])))
        return (h * x0[0].numel()).expand(x0.shape[0])

    def eq14_offset(self, x0: Tensor, table: ScheduleTable) -> Tensor:
        d = x0[0].numel()
        h_T = g.normal_entropy(torch.log(table.one_minus_alpha_bar[-1]))
        h_1 = g.normal_entropy(torch.log(table.beta[1]))
        h_prior = g.normal_entropy(torch.zeros((), dtype=x0.dtype, device=x0.device))
        return (h_T - h_1 - h_prior) * d * torch.ones(x0.shape[0], dtype=x0.dtype, device=x0.device)

    def forward_step(self, x_prev: Tensor, t: Tensor, noise: Tensor, table: ScheduleTable) -> Tensor:
        sqrt_alpha, sqrt_beta = table.memo("forward_step_scales", _forward_step_scales)
        return g.at(sqrt_alpha, t, x_prev) * x_prev + g.at(sqrt_beta, t, x_prev) * noise

    def forward_log_prob(self, xt: Tensor, x_prev: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
        sqrt_alpha, _ = table.memo("forward_step_scales", _forward_step_scales)
        log_beta = table.memo("log_beta", lambda tb: torch.log(tb.beta))
        return sum_per_example(g.normal_log_prob(xt, g.at(sqrt_alpha, t, x_prev) * x_prev, g.at(log_beta, t, x_prev)))

    def reverse_log_prob(self, x_prev: Tensor, kernel: ReverseGaussian) -> Tensor:
        return sum_per_example(g.normal_log_prob(x_prev, kernel.mean, kernel.log_var))

    def prior_log_prob(self, xT: Tensor) -> Tensor:
        return self.log_null(xT)  # p(x_T) = N(0, I) is also the null model

    def flow_times(self, table: ScheduleTable) -> Tensor:
        """v_t = -lambda_t, minus the log-SNR of each step (+inf where alpha_bar_t = 0)."""
        return -table.logsnr

    def flow_span(self, table: ScheduleTable) -> tuple[float, float]:
        """From step 1 (noise variance beta_1, as Song et al. start at a small eps) to step T, or to
        T - 1 where alpha_bar_T = 0 (the paper's schedule: an infinite log-SNR has no clock time)."""
        v = self.flow_times(table)
        return float(v[1]), float(v[-1] if torch.isfinite(v[-1]) else v[-2])

    def data_prediction(self, kernel: ReverseGaussian, xt: Tensor, t: Tensor, table: ScheduleTable) -> Tensor:
        return predicted_x0(kernel, xt, t, table)

    def flow_drift(self, x: Tensor, x0_hat: Tensor, v: Tensor, table: ScheduleTable) -> Tensor:
        return g.probability_flow_drift(x, x0_hat, per_example(-v, x))

    def sample_prior(self, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
        return torch.randn(shape, generator=generator, device=device, dtype=torch.float64)

    def sample_step(self, kernel: ReverseGaussian, generator: torch.Generator | None) -> Tensor:
        noise = torch.randn(kernel.mean.shape, generator=generator, device=kernel.mean.device, dtype=kernel.mean.dtype)
        return kernel.mean + torch.exp(0.5 * kernel.log_var) * noise

    def entropy_bounds(self, table: ScheduleTable, x0: Tensor) -> tuple[Tensor, Tensor]:
        return g.entropy_bounds(table)

    def kernel_entropy(self, kernel: ReverseGaussian) -> Tensor:
        return g.normal_entropy(kernel.log_var)


def _log_posterior_variance(table: ScheduleTable) -> Tensor:
    """log beta_tilde_t, with beta_1 standing in at t = 1 (where beta_tilde_1 = 0 and the decoder's
    term is used instead: the stand-in only keeps the unused KL finite)."""
    var = torch.cat([table.beta[:2], table.beta_tilde[2:]])
    return torch.log(var)


def _q_sample_scales(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
    return table.alpha_bar.sqrt(), (1.0 - table.alpha_bar).sqrt()


def _forward_step_scales(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """sqrt(1 - beta_t) and sqrt(beta_t): x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps."""
    return table.alpha.sqrt(), table.beta.sqrt()


def _prior_kl_terms(table: ScheduleTable) -> tuple[Tensor, Tensor]:
    """(abar_T, abar_T + log(1 - abar_T)) of the prior's KL."""
    return table.alpha_bar[-1], table.alpha_bar[-1] + torch.log(table.one_minus_alpha_bar[-1])
