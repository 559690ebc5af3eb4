"""Shared test helpers: an oracle reverse kernel for Gaussian data, and tiny configurations."""

from __future__ import annotations

import math

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


class Perturbed(nn.Module):
    """Another network's outputs plus constants (dz_mu, dz_Sigma): with a Gaussian oracle inside, the
    kernels stay affine in x_t with variances that do not depend on it, but no longer reverse any
    forward chain exactly, so the importance weights vary between trajectories."""

    def __init__(self, inner, dz_mu: float, dz_sigma: float):
        super().__init__()
        self.inner = inner
        self.shift = torch.tensor([dz_mu, dz_sigma], dtype=torch.float64)
        self.dummy = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x, t, s):
        out = self.inner(x, t, s)
        return out + self.shift.reshape(1, 2, *([1] * (out.dim() - 2)))


def linear_gaussian_log_marginal(model, x0):
    """log p(x_0) (nats, per example) of a model whose kernels p(x_{t-1}|x_t) have means affine in x_t,
    dimension by dimension, and variances that do not depend on x_t: p(x_T) = N(0, I) carried back
    through x_{t-1} = a_t x_t + b_t + sqrt(v_t) z stays Gaussian, N(m, s) with m <- a m + b, s <- a^2 s + v."""
    process, table = model.process, model.process.table()
    d = x0.shape[1]
    m, s = torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
    probe = torch.stack([torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)])
    with torch.no_grad():
        for t in range(model.T, 0, -1):
            kernel = model.kernel(probe, torch.full((2,), t, dtype=torch.long), table)
            b0, a = kernel.mean[0], kernel.mean[1] - kernel.mean[0]
            m, s = a * m + b0, a * a * s + torch.exp(kernel.log_var[0])
    return torch.distributions.Normal(m, s.sqrt()).log_prob(x0).sum(1)


def enumerated_log_marginal(model, x0):
    """log p(x_0) (nats, per example) of a binomial-diffusion model over few bits, exactly: the
    distribution over all 2^d states carried from p(x_T) back through every reverse kernel."""
    import itertools

    process, table = model.process, model.process.table()
    d = x0.shape[1]
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)  # (S, d)
    log_p = process.prior_log_prob(states)  # (S,)
    with torch.no_grad():
        for t in range(model.T, 0, -1):
            kernel = model.kernel(states, torch.full((len(states),), t, dtype=torch.long), table)
            # log p(x_{t-1} = s' | x_t = s) for every pair: (S, S')
            logit = kernel.logit[:, None, :]
            trans = (states[None] * torch.nn.functional.logsigmoid(logit)
                     + (1 - states[None]) * torch.nn.functional.logsigmoid(-logit)).sum(-1)
            log_p = torch.logsumexp(log_p[:, None] + trans, dim=0)
    index = (x0 * 2 ** torch.arange(d - 1, -1, -1, dtype=torch.float64)).sum(1).long()
    return log_p[index]


def paired_se(diff):
    return float(diff.std() / math.sqrt(diff.numel()))


def check_approach(log_w, truth, K):
    """L_j (nested, same draws) rises with j, L_1 agrees with K's estimator in expectation, and L_k
    closes most of the gap without passing the exact log p(x_0) beyond its noise (all in nats)."""
    from thermodiff.evaluation.importance import blocked_bound, nested_sizes

    L = {j: blocked_bound(log_w, j) for j in nested_sizes(log_w.shape[1])}
    sizes = sorted(L)
    for a, b in zip(sizes, sizes[1:]):
        assert float((L[b] - L[a]).mean()) > -3 * paired_se(L[b] - L[a]), (a, b)
    k = sizes[-1]
    assert float((L[k] - L[1]).mean()) > 5 * paired_se(L[k] - L[1])
    assert abs(float((L[1] - K).mean())) < 4 * paired_se(L[1] - K), (float(L[1].mean()), float(K.mean()))
    gap_1, gap_k = truth - L[1], truth - L[k]
    assert float(gap_k.mean()) > -3 * paired_se(gap_k), "L_k above the exact log-likelihood"
    assert float(gap_k.mean()) < 0.25 * float(gap_1.mean()), (float(gap_1.mean()), float(gap_k.mean()))


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
