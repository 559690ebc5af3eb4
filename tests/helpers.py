"""Shared test helpers: an oracle reverse kernel for Gaussian data, and tiny configurations."""

from __future__ import annotations

import torch
from torch import nn

from thermodiff.equations import binomial as b
from thermodiff.equations.gaussian import posterior_coefficients
from thermodiff.equations.reverse import reverse_log_var_range


def kernel_outputs(process, x, t, e_x0, v_x0):
    """The (z_mu, z_Sigma) that the 'posterior' parameterization turns into the kernel with mean
    mu_tilde(x_t, E[x_0|x_t]) and variance beta_tilde_t + c_x0^2 Var(x_0|x_t) (Var itself at t = 1)."""
    table = process.table()
    z_mu = (e_x0 - table.alpha_bar[t][:, None].sqrt() * x) / table.one_minus_alpha_bar[t][:, None].sqrt()
    c_x0, _ = posterior_coefficients(table)
    var = table.beta_tilde[t][:, None] + c_x0[t][:, None] ** 2 * v_x0
    var = torch.where((t == 1)[:, None], v_x0, var)
    lo, hi = reverse_log_var_range(table)
    z_sigma = (torch.log(var) - lo[t][:, None]) / (hi[t][:, None] - lo[t][:, None]) - 0.5
    return torch.stack([z_mu, z_sigma], dim=1)


class GaussianOracle(nn.Module):
    """The optimal reverse kernel for independent Gaussian data N(m, s^2) per dimension.

    For such data q(x_{t-1} | x_t) is Gaussian and diagonal, with mean mu_tilde(x_t, E[x_0|x_t])
    and variance beta_tilde_t + c_x0^2 Var(x_0|x_t); this module outputs the (z_mu, z_Sigma) that
    the 'posterior' parameterization turns into exactly that kernel.
    """

    def __init__(self, process, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.process = process
        self.register_buffer("m", mean.to(torch.float64))
        self.register_buffer("s", std.to(torch.float64))
        self.dummy = nn.Parameter(torch.zeros(1, dtype=torch.float64))  # gives the model a dtype

    def forward(self, x, t, s_coord):
        table = self.process.table()
        abar = table.alpha_bar[t][:, None]
        var_data = self.s**2
        var_xt = abar * var_data + table.one_minus_alpha_bar[t][:, None]
        e_x0 = self.m + abar.sqrt() * var_data / var_xt * (x - abar.sqrt() * self.m)
        v_x0 = var_data - abar * var_data**2 / var_xt
        return kernel_outputs(self.process, x, t, e_x0, v_x0)


class CorrelatedGaussianOracle(nn.Module):
    """For zero-mean Gaussian data N(0, C): the exact E[x_0|x_t] = sqrt(abar) C S^-1 x_t with
    S = abar C + (1 - abar) I, and the diagonal of Cov[x_0|x_t] as the kernel's variance. The
    reverse kernel of such data is not diagonal, but its off-diagonal part is O(beta^2): this is
    the best diagonal kernel, and what a network trained on correlated data approximates."""

    def __init__(self, process, cov):
        super().__init__()
        self.process = process
        self.register_buffer("C", torch.as_tensor(cov, dtype=torch.float64))
        self.dummy = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x, t, s_coord):
        table = self.process.table()
        abar = table.alpha_bar[t][:, None, None]
        eye = torch.eye(self.C.shape[0], dtype=torch.float64)
        gain = abar.sqrt() * self.C @ torch.linalg.inv(abar * self.C + table.one_minus_alpha_bar[t][:, None, None] * eye)
        e_x0 = (gain @ x.unsqueeze(-1)).squeeze(-1)
        v_x0 = torch.diagonal(self.C - abar.sqrt() * gain @ self.C, dim1=1, dim2=2)
        return kernel_outputs(self.process, x, t, e_x0, v_x0)


class EnumerationOracle(nn.Module):
    """The exact p(x_0,i = 1 | x_t) for data from a mixture of product Bernoullis, by enumerating
    its components: rows of ``patterns`` are the components' rates (0/1 rows: data uniform over a
    few patterns), ``weights`` their probabilities (uniform if not given)."""

    def __init__(self, process, patterns, pi: float, weights=None):
        super().__init__()
        self.process = process
        self.pi = pi
        self.register_buffer("patterns", torch.as_tensor(patterns, dtype=torch.float64))
        w = torch.full((len(patterns),), 1.0 / len(patterns)) if weights is None else torch.as_tensor(weights)
        self.register_buffer("log_weights", torch.log(w.to(torch.float64)))
        self.dummy = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x, t, s):
        table = self.process.table()
        xt = (x + 1) / 2  # the network sees 2 x - 1
        abar = table.alpha_bar[t][:, None, None]

        def log_like(rate):  # log q(x_t,i | .) per bit for bits that are 1 at ``rate``
            return xt[:, None] * torch.log(rate) + (1 - xt[:, None]) * torch.log1p(-rate)

        like = log_like(b.q_marginal_rate(self.patterns[None], abar, self.pi))  # (B, P, d): q is linear in x_0
        post = torch.softmax(self.log_weights + like.sum(-1), dim=1)  # p(component | x_t)
        like_one = log_like(b.q_marginal_rate(torch.ones_like(self.patterns[None]), abar, self.pi))
        p1_given = self.patterns[None] * torch.exp(like_one - like)  # p(x_0,i = 1 | x_t,i, component)
        p1 = (post[:, :, None] * p1_given).sum(1).clamp(1e-12, 1 - 1e-12)
        logit = torch.log(p1) - torch.log1p(-p1) - self.process.null_x0_logit(xt, t, table)
        return logit[:, None]


TINY = ["--T", "20", "--width", "32", "--depth", "1", "--bumps", "4", "--batch-size", "64",
        "--eval-every", "20", "--eval-examples", "32", "--checkpoint-every", "10"]


def trained_with_two_observations(root):
    """A tiny run on correlated 3-D data in ``root`` (d.npy, run/), and obs.npy (its first two
    examples, the middle value unknown: NaN) with mask.npy (1, 0, 1). Returns (data, obs, run)."""
    import numpy as np

    from thermodiff.cli import main

    data = np.random.default_rng(0).multivariate_normal([0, 1, 2], [[1, .5, 0], [.5, 1, .3], [0, .3, 1]], size=400)
    np.save(root / "d.npy", data)
    run = root / "run"
    assert main(["train", str(root / "d.npy"), "--out", str(run), "--steps", "20", *TINY]) == 0
    obs = data[:2].copy()
    obs[:, 1] = np.nan
    np.save(root / "obs.npy", obs)
    np.save(root / "mask.npy", np.array([1, 0, 1]))  # broadcasts over the examples
    return data, obs, run
