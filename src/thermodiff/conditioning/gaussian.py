"""Posterior sampling for Gaussian diffusion: which way of conditioning fits the evidence, chosen once.

Evidence in data coordinates becomes evidence about the model's coordinates (affine.py). Each
way of conditioning is a path with the same interface, one module each:
- dense.py: linear-Gaussian evidence, each step's product drawn exactly (whitened data, or up
  to ``dense_max`` dimensions; the diffused method uses the exact Jacobian of x0_hat);
- coordinates.py: the same coordinate by coordinate (z-scored data above ``dense_max``), with or
  without coupling between coordinates;
- smooth.py: any smooth log r, by the paper's first-order form;
- noisy_start.py: denoising z-scored data with the diffused method starts from the noisy data
  at the matched step, then follows the dense or coordinate path with the leftover evidence.
The smc method's paths are the diffused ones that also weigh their draws (particles.py).
"""

from __future__ import annotations

from enum import Enum

import torch

from .affine import NoisyData
from .base import Conditioner, Start
from .config import Method
from .coordinates import (CoordinatePath, CoupledCoordinatePath, DiffusedCoordinatePath, ParticleCoordinatePath,
                          ParticleCoupledPath)
from .dense import DensePath, DiffusedDensePath, ParticleDensePath
from .evidence import Denoising, Evidence, Smooth
from .gaussian_path import GaussianReverse
from .noisy_start import NoisyStart
from .smooth import DiffusedSmoothPath, ParticleSmoothPath, SmoothPath


class Form(Enum):
    """How evidence about the model's coordinates is held, and so how each step's product is drawn."""

    DENSE = "dense"  # LinearEvidence: any map to the data, exact Jacobians
    COORDINATES = "coordinates"  # DiagonalEvidence: a diagonal map, each coordinate on its own
    COUPLED = "coupled"  # the same, with first-order coupling between coordinates


PATHS: dict[tuple[Form, Method], type[DensePath] | type[CoordinatePath]] = {
    (Form.DENSE, Method.PAPER): DensePath,
    (Form.DENSE, Method.DIFFUSED): DiffusedDensePath,
    (Form.DENSE, Method.SMC): ParticleDensePath,
    (Form.COORDINATES, Method.PAPER): CoordinatePath,
    (Form.COORDINATES, Method.DIFFUSED): DiffusedCoordinatePath,
    (Form.COORDINATES, Method.SMC): ParticleCoordinatePath,
    (Form.COUPLED, Method.PAPER): CoordinatePath,  # r_s = r: nothing to couple
    (Form.COUPLED, Method.DIFFUSED): CoupledCoordinatePath,
    (Form.COUPLED, Method.SMC): ParticleCoupledPath,
}

SMOOTH_PATHS: dict[Method, type[SmoothPath]] = {Method.PAPER: SmoothPath, Method.DIFFUSED: DiffusedSmoothPath,
                                                Method.SMC: ParticleSmoothPath}


class GaussianConditioner(Conditioner):
    """Chooses the path from the evidence, the normalization, the method and the dimension."""

    def prepare(self, evidence: Evidence, device: torch.device) -> Start:
        reverse = GaussianReverse.of(self.model, self.normalization, self.data_shape, device)
        if isinstance(evidence, Smooth):
            return SMOOTH_PATHS[self.method](reverse, evidence.log_r, evidence.n, evidence.draws)
        path = PATHS[self.form(reverse.dim), self.method]
        observations = evidence.observations()
        if isinstance(evidence, Denoising) and self.starts_noisy():
            return NoisyStart(reverse, NoisyData.of(observations, reverse.affine), path.about_coordinates)
        return path.observing(reverse, observations)

    def form(self, dim: int) -> Form:
        """Dense for whitened data (a dense map) and up to ``dense_max`` dimensions; else per coordinate."""
        if self.normalization.whitening is not None or dim <= self.options.dense_max:
            return Form.DENSE
        return Form.COUPLED if self.options.coupling else Form.COORDINATES

    def starts_noisy(self) -> bool:
        """Noisy data are a diffused state where the map is diagonal, and the diffused method carries the rest.
        (smc starts at T: its weights need the model's own p(x_T), and the noisy start has none to offer.)"""
        return self.normalization.whitening is None and self.method is Method.DIFFUSED
