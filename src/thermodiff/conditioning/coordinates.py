"""Evidence about each coordinate on its own, r(w) = prod_i N(y_i; a_i w_i, r_i): for z-scored
data above ``dense_max`` dimensions (images), where a Jacobian would cost a backward pass per pixel.

- ``paper``: r_s = r at every step.
- ``diffused``: r_s(x) = E[r(x_0) | x_s = x] with x_0,i | x_s Gaussian per coordinate. The
  model's own step-s kernel has variance beta_tilde_s + c_x0^2 Var[x_0|x_s] at the optimum, so
  Var[x_0|x_s] is read from it, and the slope dE[x_0,i|x_s]/dx_s,i follows by Tweedie (no Jacobian).
- ``diffused`` with coupling: also the evidence between coordinates, to first order: the
  gradient of log r_s through the network (J^T e, one backward pass) less its diagonal part,
  which the per-coordinate product already carries.
- ``smc``: either diffused step as the proposal of sequential Monte Carlo (particles.py), weighed
  with the twist r_s(x) = prod_i N(y_i; a_i x0_hat_i(x), r_i + a_i^2 Var[x_0,i|x]) at x itself
  (one more pass of the network per step, no backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from ..equations.particles import floored_x0_variance
from ..equations.products import (DiagonalEvidence, diagonal_log_likelihood, diagonal_log_predictive,
                                  diagonal_matheron_update, diffused_diagonal_evidence, diffused_score_weights,
                                  first_order_tilt, kernel_x0_variance, log_normal_ratio, proper_diagonal, tweedie_slope)
from ..equations.reverse import ReverseGaussian
from .affine import diagonal_evidence
from .base import Draw
from .evidence import Observations
from .gaussian_path import GaussianParticles, GaussianPath, GaussianReverse, standard_normal


@dataclass(frozen=True)
class CoordinatePath(GaussianPath):
    """The paper's r_s = r, coordinate by coordinate."""

    evidence: DiagonalEvidence

    @classmethod
    def observing(cls, reverse: GaussianReverse, observations: Observations) -> "CoordinatePath":
        return cls(reverse, diagonal_evidence(observations, reverse.affine))

    @classmethod
    def about_coordinates(cls, reverse: GaussianReverse, evidence: DiagonalEvidence) -> "CoordinatePath":
        return cls(reverse, evidence)

    def count(self) -> int:
        return self.evidence.y.shape[0]

    def select(self, rows: Tensor) -> "CoordinatePath":
        return replace(self, evidence=self.evidence.take(rows))

    def evidence_at(self, mean: Tensor, var: Tensor, s: int) -> tuple[Tensor, DiagonalEvidence]:
        """(mean', r_s): the step's mean, tilted by whatever of r_s is not per coordinate, and r_s."""
        return mean, self.evidence

    def tilted_draw(self, mean: Tensor, var: Tensor, s: int, generator: torch.Generator | None) -> Tensor:
        mean, evidence = self.evidence_at(mean, var, s)
        return self.product_draw(mean, var, evidence, generator)

    @staticmethod
    def product_draw(mean: Tensor, var: Tensor, evidence: DiagonalEvidence, generator: torch.Generator | None) -> Tensor:
        """An exact draw from N(mean, diag var) r, normalized, coordinate by coordinate."""
        draw = mean + var.sqrt() * standard_normal(mean.shape, generator, mean)
        return diagonal_matheron_update(draw, var, evidence, standard_normal(mean.shape, generator, mean))


@dataclass(frozen=True)
class DiffusedCoordinatePath(CoordinatePath):
    """r_s(x) = E[r(x_0) | x_s = x], each coordinate carried back on its own."""

    #: whether x0_hat keeps its graph to x_s (the coupling's backward pass needs it)
    keeps_graph: ClassVar[bool] = False

    def evidence_at(self, mean: Tensor, var: Tensor, s: int) -> tuple[Tensor, DiagonalEvidence]:
        if s == 0:
            return mean, self.evidence
        xs = mean.detach().requires_grad_(self.keeps_graph)
        with torch.set_grad_enabled(self.keeps_graph):
            kernel, x0_hat = self.reverse.predict(xs, s)
        var_x0, slope = self.x0_spread(kernel, s)
        mean = self.coupled_mean(mean, var, xs, x0_hat, var_x0, slope)
        return mean, diffused_diagonal_evidence(self.evidence, mean, x0_hat.detach(), slope, var_x0)

    def x0_spread(self, kernel: ReverseGaussian, s: int) -> tuple[Tensor, Tensor]:
        """(Var[x_0,i | x_s], dE[x_0,i | x_s]/dx_s,i) from the step-s kernel's variance, by Tweedie."""
        table = self.reverse.table
        var_x0 = kernel_x0_variance(kernel.log_var.detach().exp().flatten(1), table.beta_tilde[s], table.c_x0[s])
        return var_x0, tweedie_slope(var_x0, table.alpha_bar[s])

    def coupled_mean(self, mean: Tensor, var: Tensor, xs: Tensor, x0_hat: Tensor, var_x0: Tensor,
                     slope: Tensor) -> Tensor:
        """The step's mean, tilted by the evidence between coordinates (none here)."""
        return mean


@dataclass(frozen=True)
class CoupledCoordinatePath(DiffusedCoordinatePath):
    """The same, with evidence carried between coordinates to first order through the network."""

    keeps_graph: ClassVar[bool] = True

    def coupled_mean(self, mean: Tensor, var: Tensor, xs: Tensor, x0_hat: Tensor, var_x0: Tensor,
                     slope: Tensor) -> Tensor:
        """mu + Sigma (J^T e - diag(J) e): d log r_s/dx less the diagonal part the product carries."""
        e = diffused_score_weights(self.evidence, x0_hat.detach(), var_x0)
        jte = torch.autograd.grad(x0_hat, xs, grad_outputs=e)[0]
        return first_order_tilt(mean, var, jte - slope * e)


class CoordinateParticles(GaussianParticles):
    """Weighted draws of a diffused coordinate path (mixed into one): the draw is
    N(mu', diag Sigma) r~_s normalized, mu' the step's mean after any coupling's tilt, so
    p r_s / g = [N(x; mu, Sigma) / N(x; mu', Sigma)] Z~ r_s(x) / r~_s(x)."""

    evidence: DiagonalEvidence

    def weighted_draw(self, mean: Tensor, var: Tensor, s: int, log_twist: Tensor, generator: torch.Generator | None) -> Draw:
        shifted, evidence = self.evidence_at(mean, var, s)
        if s > 0:  # the proposal must reach every state the target can
            evidence = proper_diagonal(evidence)
        x = self.product_draw(shifted, var, evidence, generator)
        log_gain = diagonal_log_predictive(shifted, var, evidence) + log_normal_ratio(x, mean, shifted, var)
        if s == 0:  # r~ = r: known values add no noise
            return Draw(x, log_gain, torch.zeros_like(log_gain))
        twist = diagonal_log_likelihood(x, proper_diagonal(self.carried_to(x, s)))
        return Draw(x, log_gain - diagonal_log_likelihood(x, evidence) + twist, twist)

    def x0_spread(self, kernel: ReverseGaussian, s: int) -> tuple[Tensor, Tensor]:
        """The diffused path's (Var[x_0,i | x_s], slope), the variance never below a fraction of the
        reference (``floored_x0_variance``): a kernel variance under beta_tilde_s would make the twist a delta."""
        var_x0, slope = super().x0_spread(kernel, s)  # type: ignore[misc]
        return floored_x0_variance(var_x0, self.reverse.table.alpha_bar[s]), slope

    def carried_to(self, x: Tensor, s: int) -> DiagonalEvidence:
        """r_s linearized at x itself (its density at x is the twist r_s(x)); no coupling."""
        with torch.no_grad():
            kernel, x0_hat = self.reverse.predict(x, s)
        var_x0, slope = self.x0_spread(kernel, s)
        return diffused_diagonal_evidence(self.evidence, x, x0_hat, slope, var_x0)


@dataclass(frozen=True)
class ParticleCoordinatePath(CoordinateParticles, DiffusedCoordinatePath):
    """Sequential Monte Carlo, each coordinate's step on its own."""


@dataclass(frozen=True)
class ParticleCoupledPath(CoordinateParticles, CoupledCoordinatePath):
    """Sequential Monte Carlo, the steps coupled between coordinates."""
