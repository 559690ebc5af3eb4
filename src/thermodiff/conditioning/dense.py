"""Dense linear-Gaussian evidence r(w) = N(y; A w, R), each step's product drawn exactly.

Used for whitened data (any map M) and up to ``dense_max`` dimensions. The step's Gaussian
N(mu, diag Sigma) times N(y; A x, R) is Gaussian, drawn by Matheron's rule (equations/products.py).
- ``paper``: r_s = r at every step.
- ``diffused``: r_s(x) = E[r(x_0) | x_s = x] with x_0 | x_s Gaussian: mean x0_hat linearized
  by its exact Jacobian J (one backward pass per dimension), covariance by Tweedie from J. Exact
  for Gaussian data. The last step uses r itself.
- ``smc``: the diffused step as the proposal of sequential Monte Carlo (particles.py), weighed
  with the twist r_s(x) = N(y; A x0_hat(x), R + A Cov[x_0|x] A^T), r carried back to x itself.
  smc takes Cov[x_0|x] from ``steady_x0_covariance`` (diffused keeps Tweedie's as it is): Tweedie's where the Jacobian is
  trustworthy, the normalized reference (1 - abar) I at the noisiest steps, where Tweedie's had
  negative eigenvalues and made the proposal a near-delta that the weights could not repair
  (log p(y) off by 500 nats on benchmarks/posterior_mixture.py); and never below a quarter of
  that reference: a few particles' Jacobians still made near-delta twists at gains 5 to 10, which
  dropped them, and log p(y) fell 0.2 to 0.5 nats short at any M (equations/particles.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from ..equations.particles import MAX_TWEEDIE_GAIN, steady_x0_covariance
from ..equations.products import (DiagonalEvidence, LinearEvidence, diffused_evidence, log_likelihood, log_predictive,
                                  matheron_update, proper, tweedie_covariance)
from .affine import as_linear, linear_evidence
from .base import Draw
from .evidence import Observations
from .gaussian_path import GaussianParticles, GaussianPath, GaussianReverse, standard_normal


@dataclass(frozen=True)
class DensePath(GaussianPath):
    """The paper's r_s = r, with dense evidence about the model's coordinates."""

    evidence: LinearEvidence

    @classmethod
    def observing(cls, reverse: GaussianReverse, observations: Observations) -> "DensePath":
        return cls(reverse, linear_evidence(observations, reverse.affine))

    @classmethod
    def about_coordinates(cls, reverse: GaussianReverse, evidence: DiagonalEvidence) -> "DensePath":
        return cls(reverse, as_linear(evidence))

    def count(self) -> int:
        return self.evidence.y.shape[0]

    def select(self, rows: Tensor) -> "DensePath":
        return replace(self, evidence=self.evidence.take(rows))

    def evidence_at(self, mean: Tensor, s: int) -> LinearEvidence:
        """r_s as linear-Gaussian evidence about x_s, for a step whose mean is ``mean``."""
        return self.evidence

    def tilted_draw(self, mean: Tensor, var: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        return self.product_draw(mean, var, self.evidence_at(mean, s), generator)

    @staticmethod
    def product_draw(mean: Tensor, var: Tensor, evidence: LinearEvidence, generator: torch.Generator | None) -> Tensor:
        """An exact draw from N(mean, diag var) r, normalized (Matheron's rule)."""
        draw = mean + var.sqrt() * standard_normal(mean.shape, generator, mean)
        eta = standard_normal(evidence.y.shape, generator, mean)
        return matheron_update(draw, var, evidence, eta)


@dataclass(frozen=True)
class DiffusedDensePath(DensePath):
    """r_s(x) = E[r(x_0) | x_s = x], linearized at the step's mean."""

    def evidence_at(self, mean: Tensor, s: int) -> LinearEvidence:
        if s == 0:
            return self.evidence
        x0_hat, J = self.reverse.x0_and_jacobian(mean, s)
        return diffused_evidence(self.evidence, mean, x0_hat, J, self.x0_covariance(J, s))

    def x0_covariance(self, J: Tensor, s: int) -> Tensor:
        """Cov[x_0 | x_s] by Tweedie from the Jacobian J of x0_hat."""
        return tweedie_covariance(J, self.reverse.table.alpha_bar[s])


@dataclass(frozen=True)
class ParticleDensePath(DiffusedDensePath, GaussianParticles):
    """The diffused step, weighed: p r_s / g = Z~ r_s(x) / r~_s(x), where r~_s is r_s linearized at
    the step's mean (what the draw multiplies by) and Z~ the normalizer of that product."""

    #: Tweedie's covariance up to this gain on the Jacobian, the steady reference above it
    max_gain: ClassVar[float] = MAX_TWEEDIE_GAIN

    def x0_covariance(self, J: Tensor, s: int) -> Tensor:
        """Cov[x_0 | x_s] that stays a covariance at the noisiest steps (``steady_x0_covariance``)."""
        return steady_x0_covariance(J, self.reverse.table.alpha_bar[s], self.max_gain)

    def weighted_draw(self, mean: Tensor, var: Tensor, s: int, log_twist: Tensor, generator: torch.Generator | None) -> Draw:
        evidence = self.evidence_at(mean, s)
        if s > 0:  # the proposal must reach every state the target can: no delta directions
            evidence = proper(evidence)
        x = self.product_draw(mean, var, evidence, generator)
        log_z = log_predictive(mean, var, evidence)
        if s == 0:  # r~ = r: p r / g = Z~ whatever x is, so known values add no noise (a delta is never evaluated)
            return Draw(x, log_z, torch.zeros_like(log_z))
        twist = self.twist_at(x, s)
        return Draw(x, log_z - log_likelihood(x, evidence) + twist, twist)

    def twist_at(self, x: Tensor, s: int) -> Tensor:
        """log r_s(x): the evidence carried back to x and linearized there, at x itself."""
        return log_likelihood(x, proper(self.evidence_at(x, s)))
