"""log p(x_0) beyond one trajectory: the importance-weighted bound L_k.

The talk's Jarzynski equality (annealed importance sampling) writes the model's probability as an
average over forward trajectories,
    p(x_0) = E_{q(x_{1:T} | x_0)}[w],   w = p(x_{0:T}) / q(x_{1:T} | x_0),
    log w = log p(x_T) + sum_{t=1}^T [log p(x_{t-1} | x_t) - log q(x_t | x_{t-1})].
K = E[log w] is what Jensen's inequality leaves of it with one trajectory. With k independent
trajectories per example, L_k = E[log (1/k) sum_j w_j] is a lower bound on log p(x_0) for every k,
never below L_1 = K, nondecreasing in k and tending to log p(x_0) (Burda, Grosse & Salakhutdinov
2016). Log-weights accumulate in float64; their average is taken with logsumexp. Each trajectory
costs T network evaluations, so trajectories of several examples run through the network together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..bound import BITS_PER_NAT
from ..model import DiffusionModel
from .work import NoProgress, Progress, Stream, example_generator

TRAJECTORY_BLOCK = 16  # an example's trajectories are drawn in blocks of this many, one stream per block
STEPS_PER_DRAW = 32  # steps of forward noise drawn at once from a block's stream


def log_mean_exp(a: Tensor, dim: int) -> Tensor:
    """log (1/k) sum exp(a) along ``dim`` (k its size), without overflow."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def nested_sizes(k: int) -> list[int]:
    """1, 2, 4, ... below k, then k: the sizes of the nested estimates reported beside L_k."""
    sizes = [2**i for i in range(k.bit_length()) if 2**i < k]
    return sizes + [k]


def blocked_bound(log_w: Tensor, j: int) -> Tensor:
    """An unbiased estimate of L_j per example from k >= j draws: the mean over the floor(k/j)
    disjoint blocks of j draws of log (1/j) sum w (every block is an independent L_j draw)."""
    n, k = log_w.shape
    blocks = k // j
    return log_mean_exp(log_w[:, : blocks * j].reshape(n, blocks, j), dim=2).mean(dim=1)


def effective_sample_size(log_w: Tensor) -> Tensor:
    """(sum w)^2 / sum w^2 per example: k for equal weights, 1 when one trajectory carries them all."""
    return torch.exp(2.0 * torch.logsumexp(log_w, dim=1) - torch.logsumexp(2.0 * log_w, dim=1))


@dataclass(frozen=True)
class ImportanceEstimate:
    """Log-weights of k forward trajectories per example and what they give, in bits."""

    log_w: Tensor  # (N, k) log w in nats, in the model's coordinates
    offset: float  # bits added to move to the paper's z-scored coordinates (log2 |det W|)

    @property
    def k(self) -> int:
        return self.log_w.shape[1]

    def bound(self, j: int | None = None) -> Tensor:
        """Per-example L_j (default j = k) in bits, z-scored coordinates."""
        return blocked_bound(self.log_w, j or self.k) * BITS_PER_NAT + self.offset

    def nested(self) -> dict[int, Tensor]:
        """L_j per example for j = 1, 2, 4, ..., k, all from the same draws."""
        return {j: self.bound(j) for j in nested_sizes(self.k)}

    def ess(self) -> Tensor:
        return effective_sample_size(self.log_w)


def _units(n: int, k: int) -> list[tuple[int, int, int]]:
    """(example, block, trajectories) for each block of an example's k trajectories."""
    return [(i, b, min(TRAJECTORY_BLOCK, k - b * TRAJECTORY_BLOCK)) for i in range(n)
            for b in range(math.ceil(k / TRAJECTORY_BLOCK))]


@torch.no_grad()
def _batch_log_weights(model: DiffusionModel, x0: Tensor, generators: list[torch.Generator], sizes: list[int],
                       progress: Progress) -> Tensor:
    """log w of one trajectory per row of ``x0`` ((rows, *shape), rows grouped by stream, ``sizes``
    rows each): x_1, ..., x_T drawn forward from q, the reverse kernel scored at every step."""
    process, table = model.process, model.process.table()
    rows = x0.shape[0]
    template = x0.new_empty((STEPS_PER_DRAW, 1, *x0.shape[1:]))
    log_w = torch.zeros(rows, dtype=torch.float64, device=x0.device)
    x_prev = x0
    for t in range(1, model.T + 1):
        if (t - 1) % STEPS_PER_DRAW == 0:  # the next STEPS_PER_DRAW steps of noise of every stream
            noise = torch.cat([process.noise_like(template.expand(-1, m, *x0.shape[1:]), g)
                               for g, m in zip(generators, sizes)], dim=1)
        steps = torch.full((rows,), t, dtype=torch.long, device=x0.device)
        xt = process.forward_step(x_prev, steps, noise[(t - 1) % STEPS_PER_DRAW], table)
        kernel = model.kernel(xt, steps, table)
        log_w += process.reverse_log_prob(x_prev, kernel) - process.forward_log_prob(xt, x_prev, steps, table)
        x_prev = xt
        progress.advance(rows)
    return log_w + process.prior_log_prob(x_prev)


def trajectory_log_weights(model: DiffusionModel, x0: Tensor, k: int, seed: int, first_index: int = 0,
                           rows: int | None = None, progress: Progress | None = None) -> Tensor:
    """(n, k) log-weights in nats for examples ``x0`` (model coordinates, float64, (n, *shape)).

    Example i's trajectories come from streams seeded by (seed, first_index + i, block), so its
    weights do not depend on the other examples scored with it. About ``rows`` trajectories go
    through the network together (default: by the size of an example)."""
    n, d = x0.shape[0], x0[0].numel()
    rows = rows or max(TRAJECTORY_BLOCK, min(1024, 2**16 // d))  # an MLP on this CPU is no faster per row in larger batches
    progress = progress or NoProgress()
    units = _units(n, k)
    log_w = torch.empty(n, k, dtype=torch.float64, device=x0.device)
    progress.start(f"importance weights (k = {k})", float(n * k * model.T), "trajectory steps")
    start = 0
    while start < len(units):
        batch, used = [], 0
        while start + len(batch) < len(units) and (not batch or used + units[start + len(batch)][2] <= rows):
            batch.append(units[start + len(batch)])
            used += batch[-1][2]
        generators = [example_generator(seed, first_index + i, Stream.TRAJECTORIES, x0.device, b) for i, b, _ in batch]
        sizes = [m for _, _, m in batch]
        x = torch.cat([x0[i:i + 1].expand(m, *x0.shape[1:]) for i, _, m in batch])
        lw = _batch_log_weights(model, x, generators, sizes, progress)
        for (i, b, m), part in zip(batch, lw.split(sizes)):
            log_w[i, b * TRAJECTORY_BLOCK:b * TRAJECTORY_BLOCK + m] = part
        start += len(batch)
    progress.finish()
    return log_w
