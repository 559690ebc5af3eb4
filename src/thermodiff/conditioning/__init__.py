"""Posterior sampling by multiplying the model with evidence: inpainting, denoising, any smooth r.

The model p(x_0) times evidence r(x_0) gives p~(x_0) ∝ p(x_0) r(x_0) (Sohl-Dickstein et al.
2015, Sec. 2.5). The reverse chain is run with each step multiplied by a per-step factor,
p~(x_{t-1} | x_t) ∝ p(x_{t-1} | x_t) r_t(x_{t-1}). Which r_t is the method:

- ``paper``: r_t = r at every step, as the paper does. A heuristic: at a noisy step the
  evidence about x_0 is applied to x_{t-1} as if it were about x_{t-1}.
- ``diffused``: r_t(x_{t-1}) = E[r(x_0) | x_{t-1}], the evidence carried back to step t-1 by
  the model's own prediction of x_0 from x_{t-1}. For Gaussian diffusion that prediction is
  Gaussian with Tweedie's mean and covariance (exact for Gaussian data; see dense.py); for
  binomial diffusion the model's factorized p(x_0 | x_{t-1}) reweights each bit's rate to first
  order. The last step (t = 1) uses r itself, exactly, under both methods. Denoising needs no
  evidence above the step s whose noise matches the data's: the noisy data, split in two
  independent observations, give an exact draw of x_s and the evidence for the steps below s
  (noisy_start.py).
- ``smc``: sequential Monte Carlo (particles.py): systems of particles that propose each step
  with the diffused one, weighted by how far that step is from the model's own step times the
  evidence, and resampled. Their samples converge to the model's posterior p(x_0) r(x_0) / Z as
  the particles grow, for any model and evidence, and they estimate Z = p(y) without bias.
  Chains start at T (the noisy start has no weight that the model could check).

Evidence is given in the data's own coordinates (``Inpainting``, ``Denoising``, ``Smooth``);
each process's conditioner (a row of ``CONDITIONERS``) maps it into the model's coordinates and
chooses, once, the path its chain follows (base.py; gaussian.py lists the Gaussian paths).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data import Normalization
from ..model import DiffusionModel
from ..processes import ProcessKind
from .base import Conditioner
from .binomial import BinomialConditioner
from .chain import run_chains
from .config import Method, PosteriorConfig, Resampling
from .evidence import Denoising, Evidence, Inpainting, Smooth, denoising, inpainting
from .gaussian import GaussianConditioner
from .particles import run_particles
from .report import ParticleReport, Posterior

CONDITIONERS: dict[ProcessKind, type[Conditioner]] = {
    ProcessKind.GAUSSIAN: GaussianConditioner,
    ProcessKind.BINOMIAL: BinomialConditioner,
}


# How each method runs its chains: one at a time, or in weighted systems of particles.
DRIVERS: dict[Method, Callable[..., Posterior]] = {
    Method.PAPER: run_chains,
    Method.DIFFUSED: run_chains,
    Method.SMC: run_particles,
}


def posterior(model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...], kind: ProcessKind,
              evidence: Evidence, config: PosteriorConfig, progress: Callable[[int], None] | None = None) -> Posterior:
    """Posterior samples in data coordinates, shape (n_samples, N, *shape) (for ``Smooth``
    evidence, (n, *shape)), and for the smc method its report. ``progress`` is called with the
    number of reverse steps done."""
    conditioner = CONDITIONERS[ProcessKind(kind)](model, normalization, data_shape, config)
    return DRIVERS[Method(config.method)](conditioner, evidence, config, progress)


def sample_posterior(model: DiffusionModel, normalization: Normalization, data_shape: tuple[int, ...], kind: ProcessKind,
                     evidence: Evidence, config: PosteriorConfig, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """``posterior``'s samples alone."""
    return posterior(model, normalization, data_shape, kind, evidence, config, progress).samples


__all__ = ["CONDITIONERS", "DRIVERS", "Denoising", "Evidence", "Inpainting", "Method", "ParticleReport", "Posterior",
           "PosteriorConfig", "Resampling", "Smooth", "denoising", "inpainting", "posterior", "sample_posterior"]
