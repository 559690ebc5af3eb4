"""Posterior sampling for Gaussian diffusion: products of Gaussians, step by step.

The model runs in its own coordinates w (z-scored, perhaps whitened); the data are x = o + M w
(flattened), an affine map from the run's normalization. Evidence in data coordinates becomes
linear-Gaussian evidence about w: known entries x_i = v_i are rows M_i w = v_i - o_i with zero
variance (a delta); noisy observations y = x + n are y - o = M w + n. Each reverse step's
Gaussian N(mu, diag Sigma) times that evidence is again Gaussian and is sampled exactly
(posterior.py). ``Smooth`` evidence uses the paper's first-order form.

Denoising z-scored data with the diffused method starts below T: noisy data are themselves a
diffused state. Per coordinate y = w + N(0, v); at the first step s whose noise (1 - abar_s) /
abar_s is at least every v, y splits into y1 ~ N(w, (1 - abar_s)/abar_s) and an independent
leftover y2 (``split_observation``), x_s = sqrt(abar_s) y1 is an exact draw of q(x_s | w), and the
chain runs from s with the leftover as its evidence. Given the model's x_0 | x_s this is exact;
it spares the steps above s, where diffused evidence is only approximate. (Kadkhodaie and
Simoncelli 2021 and SDEdit, Meng et al. 2022, start from noisy images the same way.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..data import Normalization
from ..equations.gaussian import posterior_coefficients
from ..equations.products import (DiagonalEvidence, LinearEvidence, diagonal_matheron_update, diffused_diagonal_evidence,
                                  diffused_evidence, diffused_score_weights, first_order_tilt, matched_step, matheron_update,
                                  split_observation, tweedie_covariance, tweedie_slope)
from ..equations.reverse import predicted_x0
from .base import Conditioner
from .config import Method
from .evidence import Denoising, Evidence, Inpainting, Smooth


@dataclass(frozen=True)
class AffineMap:
    """x = offset + M w for flattened examples: model coordinates w -> data coordinates x."""

    offset: Tensor  # (D,)
    M: Tensor  # (D, D)

    @classmethod
    def of(cls, normalization: Normalization, device: torch.device) -> "AffineMap":
        std = torch.as_tensor(np.asarray(normalization.std, dtype=np.float64).reshape(-1), device=device)
        mean = torch.as_tensor(np.asarray(normalization.mean, dtype=np.float64).reshape(-1), device=device)
        if normalization.whitening is None:
            M = torch.diag(std)
        else:
            M = std[:, None] * torch.linalg.inv(torch.as_tensor(normalization.whitening, device=device))
        return cls(offset=mean, M=M)

    def to_data(self, w: Tensor) -> Tensor:
        return self.offset + w @ self.M.T


def linear_evidence(evidence: Inpainting | Denoising, affine: AffineMap) -> LinearEvidence:
    """Data-coordinate evidence as r(w) = N(y; A w, R) about model coordinates."""
    device = affine.M.device
    D = affine.M.shape[0]
    if isinstance(evidence, Inpainting):
        known = torch.as_tensor(evidence.mask.reshape(evidence.mask.shape[0], -1), device=device)
        values = torch.as_tensor(evidence.observed.reshape(known.shape), device=device)
        A = torch.where(known[:, :, None], affine.M.expand(known.shape[0], D, D), 0.0)
        y = torch.where(known, values - affine.offset, 0.0)
        R = torch.diag_embed(torch.where(known, 0.0, 1.0).to(torch.float64))  # unknown rows: no information
        return LinearEvidence(A=A, y=y, R=R)
    noisy = torch.as_tensor(evidence.noisy.reshape(evidence.noisy.shape[0], -1), device=device)
    var = torch.as_tensor(evidence.noise_std.reshape(noisy.shape), device=device) ** 2
    return LinearEvidence(A=affine.M.expand(noisy.shape[0], D, D).clone(), y=noisy - affine.offset, R=torch.diag_embed(var))


def diagonal_evidence(evidence: Inpainting | Denoising, affine: AffineMap) -> DiagonalEvidence:
    """The same evidence coordinate by coordinate, for a diagonal map (z-scored data: x_i = o_i + m_i w_i)."""
    device = affine.M.device
    m = torch.diagonal(affine.M)
    if isinstance(evidence, Inpainting):
        known = torch.as_tensor(evidence.mask.reshape(evidence.mask.shape[0], -1), device=device)
        values = torch.as_tensor(evidence.observed.reshape(known.shape), device=device)
        return DiagonalEvidence(a=torch.where(known, m, 0.0), y=torch.where(known, values - affine.offset, 0.0),
                                r=torch.where(known, 0.0, 1.0).to(torch.float64))
    noisy = torch.as_tensor(evidence.noisy.reshape(evidence.noisy.shape[0], -1), device=device)
    var = torch.as_tensor(evidence.noise_std.reshape(noisy.shape), device=device) ** 2
    return DiagonalEvidence(a=m.expand_as(noisy).clone(), y=noisy - affine.offset, r=var)


@dataclass(frozen=True)
class NoisyData:
    """Denoising evidence in model coordinates: y = w + N(0, v) per coordinate (float64 (B, D))."""

    y: Tensor
    v: Tensor

    @classmethod
    def of(cls, evidence: Denoising, affine: AffineMap) -> "NoisyData":
        diagonal = diagonal_evidence(evidence, affine)
        return cls(y=diagonal.y / diagonal.a, v=diagonal.r / diagonal.a**2)

    def take(self, rows) -> "NoisyData":
        return NoisyData(self.y[rows], self.v[rows])

    def evidence(self) -> DiagonalEvidence:
        return DiagonalEvidence(a=torch.ones_like(self.y), y=self.y, r=self.v)


class GaussianConditioner(Conditioner):
    """p~(x_{s} | x_{s+1}) ∝ N(x_s; mu, diag Sigma) r_s(x_s), drawn exactly for linear-Gaussian r_s."""

    def prepare(self, evidence: Evidence, device: torch.device) -> LinearEvidence | Callable[[Tensor], Tensor]:
        self.affine = AffineMap.of(self.normalization, device)
        if isinstance(evidence, Smooth):
            self.n_smooth = evidence.n
            return lambda w: evidence.log_r(self.affine.to_data(w).reshape(w.shape[0], *self.data_shape))
        if self.normalization.whitening is None:
            if isinstance(evidence, Denoising) and self.method is Method.DIFFUSED:
                return NoisyData.of(evidence, self.affine)
            if self._coordinatewise():
                return diagonal_evidence(evidence, self.affine)
        return linear_evidence(evidence, self.affine)

    def _coordinatewise(self) -> bool:
        return self.normalization.whitening is None and self.affine.M.shape[0] > self.options.dense_max

    def _as_model_evidence(self, evidence: DiagonalEvidence) -> DiagonalEvidence | LinearEvidence:
        """Diagonal evidence about model coordinates, in the form the chain's path uses."""
        if self._coordinatewise():
            return evidence
        return LinearEvidence(A=torch.diag_embed(evidence.a), y=evidence.y, R=torch.diag_embed(evidence.r))

    def count(self, prepared) -> int:
        return self.n_smooth if callable(prepared) else prepared.y.shape[0]

    def select(self, prepared, rows: Tensor):
        return prepared if callable(prepared) else prepared.take(rows)

    # -- the chain -------------------------------------------------------------------------
    def start(self, prepared, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, object]:
        if isinstance(prepared, NoisyData):
            alpha_bar = self.process.table().alpha_bar
            s = matched_step(alpha_bar, float(prepared.v.max()))
            if s is not None:  # the noisy data as a diffused state x_s, the leftover as evidence
                lam = float((1.0 - alpha_bar[s]) / alpha_bar[s])
                y1, rest = split_observation(prepared.y, prepared.v, lam, self._randn(prepared.y.shape, generator, prepared.y))
                return alpha_bar[s].sqrt() * y1, s, self._as_model_evidence(rest)
            prepared = self._as_model_evidence(prepared.evidence())
        D = self.affine.M.shape[0]
        zero = torch.zeros(n, D, dtype=torch.float64, device=self.affine.M.device)
        return self._tilted_draw(zero, torch.ones_like(zero), self.model.T, prepared, generator), self.model.T, prepared

    def step(self, x: Tensor, t: int, prepared, generator: torch.Generator | None) -> Tensor:
        table = self.process.table()
        steps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        with torch.no_grad():
            kernel = self.model.kernel(x.reshape(-1, *self.data_shape), steps, table)
        mean, var = kernel.mean.flatten(1), kernel.log_var.exp().flatten(1)
        return self._tilted_draw(mean, var, t - 1, prepared, generator)

    def finish(self, x0: Tensor, evidence: Evidence, rows: np.ndarray) -> np.ndarray:
        x = self.affine.to_data(x0).cpu().numpy().reshape(x0.shape[0], *self.data_shape)
        if isinstance(evidence, Inpainting):
            known = evidence.mask[rows]
            x[known] = evidence.observed[rows][known]  # exact already, up to rounding
        return x

    # -- one tilted step -----------------------------------------------------------------------
    def _tilted_draw(self, mean: Tensor, var: Tensor, s: int, prepared, generator) -> Tensor:
        """A draw of x_s from N(mean, diag var) r_s(x_s)."""
        if callable(prepared):
            grad = self._grad_log_r(prepared, mean, s)
            return first_order_tilt(mean, var, grad) + var.sqrt() * self._randn(mean.shape, generator, mean)
        if isinstance(prepared, DiagonalEvidence):
            return self._tilted_draw_diagonal(mean, var, s, prepared, generator)
        evidence = prepared
        if s > 0 and self.method is Method.DIFFUSED:
            x0_hat, J = self._x0_and_jacobian(mean, s)
            evidence = diffused_evidence(prepared, mean, x0_hat, J, tweedie_covariance(J, self.process.table().alpha_bar[s]))
        draw = mean + var.sqrt() * self._randn(mean.shape, generator, mean)
        eta = self._randn(evidence.y.shape, generator, mean)
        return matheron_update(draw, var, evidence, eta)

    def _tilted_draw_diagonal(self, mean: Tensor, var: Tensor, s: int, prepared: DiagonalEvidence, generator) -> Tensor:
        """The same coordinate by coordinate. The diffused method takes Var[x_0|x_s] from the
        model's own step-s kernel, whose variance is beta_tilde_s + c_x0^2 Var[x_0|x_s] at the
        optimum, and the slope dE[x_0|x_s]/dx_s from it by Tweedie (no Jacobian needed)."""
        evidence = prepared
        if s > 0 and self.method is Method.DIFFUSED:
            table = self.process.table()
            steps = torch.full((mean.shape[0],), s, dtype=torch.long, device=mean.device)
            xs = mean.reshape(-1, *self.data_shape).detach().requires_grad_(self.options.coupling)
            with torch.set_grad_enabled(self.options.coupling):
                kernel = self.model.kernel(xs, steps, table)
                x0_hat = predicted_x0(kernel, xs, steps, table).flatten(1)
            c_x0, _ = posterior_coefficients(table)
            var_x0 = ((kernel.log_var.detach().exp().flatten(1) - table.beta_tilde[s]) / c_x0[s] ** 2).clamp(min=0.0)
            slope = tweedie_slope(var_x0, table.alpha_bar[s])
            if self.options.coupling:  # between coordinates, to first order: J^T e less its diagonal
                e = diffused_score_weights(prepared, x0_hat.detach(), var_x0)
                jte = torch.autograd.grad(x0_hat, xs, grad_outputs=e)[0].flatten(1)
                mean = first_order_tilt(mean, var, jte - slope * e)
            evidence = diffused_diagonal_evidence(prepared, mean, x0_hat.detach(), slope, var_x0)
        draw = mean + var.sqrt() * self._randn(mean.shape, generator, mean)
        return diagonal_matheron_update(draw, var, evidence, self._randn(mean.shape, generator, mean))

    def _x0(self, w: Tensor, s: int) -> Tensor:
        """The model's prediction of x_0 from the state x_s = w (flattened)."""
        table = self.process.table()
        steps = torch.full((w.shape[0],), s, dtype=torch.long, device=w.device)
        xs = w.reshape(-1, *self.data_shape)
        return predicted_x0(self.model.kernel(xs, steps, table), xs, steps, table).flatten(1)

    def _x0_and_jacobian(self, w: Tensor, s: int) -> tuple[Tensor, Tensor]:
        """x0_hat(w) and J[b, i, j] = d x0_hat_i / d w_j: one backward pass per dimension, vectorized."""
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            x0 = self._x0(w, s)
            D = x0.shape[1]
            basis = torch.eye(D, dtype=x0.dtype, device=x0.device)[:, None, :].expand(D, *x0.shape)
            rows = torch.autograd.grad(x0, w, grad_outputs=basis, is_grads_batched=True)[0]  # (D, B, D)
        return x0.detach(), rows.transpose(0, 1)

    def _grad_log_r(self, log_r_model: Callable[[Tensor], Tensor], w: Tensor, s: int) -> Tensor:
        """d log r_s / dw at w: of r itself (paper, or s = 0), or of r(x0_hat_s(w)) (diffused)."""
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            point = self._x0(w, s) if (s > 0 and self.method is Method.DIFFUSED) else w
            return torch.autograd.grad(log_r_model(point).sum(), w)[0]

    @staticmethod
    def _randn(shape, generator, like: Tensor) -> Tensor:
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
