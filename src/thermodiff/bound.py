"""The lower bound K on log-likelihood, assembled in one place (``minus_K``), and eq. 14.

The bound is reported in its provable form (never above log p(x_0)):

    -K = E_q[-log p(x_0 | x_1)]                                          (1) decoder
         + sum_{t=2}^T E_q[KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))]     (2) KLs
         + KL(q(x_T | x_0) || p(x_T))                                      (3) prior

per example, in nats. Every expectation is over x_t ~ q(x_t | x_0); given x_t each term is exact
(the process computes it: ``decoder_nll``, ``posterior_kl``, ``prior_kl``). The sum over t is
estimated without bias from a few weighted steps per example (``variance.StepDraws``), and each
term has a zero-mean control variate a_t u(noise) subtracted. Training (one step per example,
t drawn by importance) and evaluation (every step, or the decoder plus stratified steps) both
call ``minus_K``. The paper's eq. 14 replaces blocks (1) and (3) by entropies at the edges
(``K_eq14``): an approximation at the first step, shown beside K, never as the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from .processes import DiffusionProcess
from .schedule import ScheduleTable
from .variance import StepDraws

BITS_PER_NAT = 1.0 / math.log(2.0)

Kernel = Callable[[Tensor, Tensor, ScheduleTable], Any]  # (x_t, t, table) -> p(x_{t-1} | x_t)


@dataclass(frozen=True)
class MinusK:
    """-K per example in nats, by block (each (n,)), with the raw terms behind it (each (n, S)).
    The blocks are summed when asked for: a training step only needs their total."""

    weighted: Tensor  # w (ell - control) of each draw, its share of block (1) or (2)
    at_decoder: Tensor  # which draws are the decoder's (block (1)); the others are KLs (block (2))
    exact_decoder: Tensor | None  # (1) in closed form, for processes that know it
    prior: Tensor  # (3)
    ell: Tensor  # the term of each drawn step, before the control variate
    u: Tensor  # the control-variate feature of each draw's noise (E[u] = 0)
    control: Tensor  # a_t u, subtracted from each term

    @property
    def decoder(self) -> Tensor:
        """(1) -log p(x_0 | x_1)."""
        drawn = torch.where(self.at_decoder, self.weighted, 0.0).sum(1)
        return drawn if self.exact_decoder is None else drawn + self.exact_decoder

    @property
    def kls(self) -> Tensor:
        """(2) the sum over t >= 2 of KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))."""
        return torch.where(self.at_decoder, 0.0, self.weighted).sum(1)

    @property
    def total(self) -> Tensor:
        if self.exact_decoder is None and self.weighted.shape[1] == 1:
            # one draw per example (training): it lies in one block and the other block is 0, so
            # decoder + kls is the draw itself (x + 0 = x), and adding it directly gives the same number
            return self.weighted[:, 0] + self.prior
        return self.decoder + self.kls + self.prior


def minus_K(process: DiffusionProcess, kernel: Kernel, sampler: Any, x0: Tensor, steps: StepDraws,
            noise: Tensor, table: Any) -> MinusK:
    """-K per example for examples ``x0`` (n, *shape), each at the S times of ``steps``, with
    x_t ~ q(x_t | x_0) drawn from ``noise`` (n * S, *shape; example-major). ``sampler`` gives
    each term's control variate (variance.py)."""
    n, S = steps.t.shape
    x = x0.repeat_interleave(S, dim=0) if S > 1 else x0
    t = steps.t.reshape(-1)
    xt = process.q_sample(x, t, noise, table)
    p = kernel(xt, t, table)
    at_decoder = process.at_decoder(steps.t)
    ell = process.posterior_kl(x, xt, t, p, table)
    if process.discrete_time:  # rows drawn at step 1 carry the decoder
        ell = torch.where(at_decoder.reshape(-1), process.decoder_nll(x, p), ell)
    ell = ell.reshape(n, S)
    u = process.noise_feature(noise).reshape(n, S)
    control = sampler.control(steps.t, u)
    return MinusK(
        weighted=steps.w * (ell - control),
        at_decoder=at_decoder,
        exact_decoder=process.decoder_expectation(x0, table),  # (1) -log p(x_0 | x_1), if known exactly
        prior=process.prior_kl(x0, table),  # (3) KL(q(x_T | x_0) || p(x_T))
        ell=ell,
        u=u,
        control=control,
    )


def K_eq14(kls: Tensor, process: DiffusionProcess, x0: Tensor, table: Any) -> Tensor:
    """The paper's eq. 14 per example (nats): -sum_{t>=2} KL + H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T)."""
    return -kls + process.eq14_offset(x0, table)
