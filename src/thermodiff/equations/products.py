"""Multiplying distributions (Sohl-Dickstein et al. 2015, Sec. 2.5): pure tensor functions.

A model p(x_0) times evidence r(x_0) gives the posterior p~(x_0) ∝ p(x_0) r(x_0). Each reverse
step becomes p~(x_{t-1} | x_t) ∝ p(x_{t-1} | x_t) r_t(x_{t-1}). Here r is Gaussian evidence
about a linear map of the state,

    r(x) = N(y; A x, R),          A: (B, m, D), y: (B, m), R: (B, m, m) positive semi-definite,

which covers inpainting (rows of A pick known coordinates, R = 0: a delta) and denoising
(A = the map to data coordinates, R = the noise covariance). A row with A = 0 and y = 0 carries
no information whatever its (positive) variance, so evidence about a varying number of
coordinates per example fits in fixed shapes. States are flattened to (B, D).

The product of the Gaussian kernel N(mu, diag v) with r is Gaussian (the Kalman update). It is
sampled without factoring the (possibly singular) posterior covariance by Matheron's rule:
draw x ~ N(mu, diag v) and eta ~ N(0, I_m), then x + G (y - A x - R^{1/2} eta) with the gain
G = V A^T (A V A^T + R)^{-1} is an exact draw from the product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LinearEvidence:
    """r(x) = N(y; A x, R) per example (float64)."""

    A: Tensor  # (B, m, D)
    y: Tensor  # (B, m)
    R: Tensor  # (B, m, m)

    def repeat(self, n: int) -> "LinearEvidence":
        """Each example's evidence n times in a row (for n posterior samples per example)."""
        return LinearEvidence(*(v.repeat_interleave(n, dim=0) for v in (self.A, self.y, self.R)))

    def take(self, rows: slice) -> "LinearEvidence":
        return LinearEvidence(self.A[rows], self.y[rows], self.R[rows])


def symmetrize(M: Tensor) -> Tensor:
    return 0.5 * (M + M.transpose(-1, -2))


def psd_factor(M: Tensor) -> tuple[Tensor, Tensor]:
    """(M+, M+^{1/2}) for a batch of symmetric matrices: M+ is the nearest positive semi-definite
    matrix (negative eigenvalues, from rounding or from an approximate covariance, set to zero)
    and M+^{1/2} its symmetric square root. Diagonal matrices take an elementwise shortcut."""
    d = torch.diagonal(M, dim1=-2, dim2=-1)
    if torch.equal(M, torch.diag_embed(d)):
        d = d.clamp(min=0.0)
        return torch.diag_embed(d), torch.diag_embed(d.sqrt())
    lam, U = torch.linalg.eigh(symmetrize(M))
    lam = lam.clamp(min=0.0)
    Ut = U.transpose(-1, -2)
    return (U * lam.unsqueeze(-2)) @ Ut, (U * lam.sqrt().unsqueeze(-2)) @ Ut


def gain(cov: Tensor, A: Tensor, R: Tensor) -> Tensor:
    """G = C A^T (A C A^T + R)^{-1} for a prior covariance C (B, D, D): the Kalman gain."""
    CAt = cov @ A.transpose(-1, -2)
    S = symmetrize(A @ CAt + R)
    return torch.linalg.solve(S, CAt.transpose(-1, -2)).transpose(-1, -2)


def condition_gaussian(mean: Tensor, cov: Tensor, evidence: LinearEvidence) -> tuple[Tensor, Tensor]:
    """N(mean, cov) x r, normalized: (mean', cov') of the Gaussian posterior (closed form).

    mean' = mean + G (y - A mean), cov' = cov - G A cov. ``cov`` is (B, D, D)."""
    G = gain(cov, evidence.A, evidence.R)
    innovation = evidence.y - (evidence.A @ mean.unsqueeze(-1)).squeeze(-1)
    new_mean = mean + (G @ innovation.unsqueeze(-1)).squeeze(-1)
    return new_mean, symmetrize(cov - G @ evidence.A @ cov)


def matheron_update(draw: Tensor, var: Tensor, evidence: LinearEvidence, eta: Tensor) -> Tensor:
    """An exact draw from N(mu, diag var) x r, given ``draw`` ~ N(mu, diag var) and ``eta`` ~ N(0, I_m).

    draw, var: (B, D); eta: (B, m)."""
    R, R_sqrt = psd_factor(evidence.R)
    G = gain(torch.diag_embed(var), evidence.A, R)
    simulated = (evidence.A @ draw.unsqueeze(-1)).squeeze(-1) + (R_sqrt @ eta.unsqueeze(-1)).squeeze(-1)
    return draw + (G @ (evidence.y - simulated).unsqueeze(-1)).squeeze(-1)


# -- densities, for weighing draws (sequential Monte Carlo) --------------------------------------
# Rows (or coordinates) with A = 0 carry no information: every density below is of the informative
# rows of y only, so that such rows, which fill the fixed shapes, add nothing to log p(y).
LOG_2PI = math.log(2.0 * math.pi)


def log_normal(x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """log N(x; mean, diag var) per example: (B, D) -> (B,)."""
    return -0.5 * (LOG_2PI + torch.log(var) + (x - mean) ** 2 / var).sum(-1)


def log_normal_ratio(x: Tensor, mean: Tensor, shifted: Tensor, var: Tensor) -> Tensor:
    """log N(x; mean, diag var) - log N(x; shifted, diag var), without the terms that cancel."""
    return (((x - shifted) ** 2 - (x - mean) ** 2) / (2.0 * var)).sum(-1)


def _log_gaussian_rows(residual: Tensor, S: Tensor, informs: Tensor) -> Tensor:
    """log N(residual; 0, S) over the rows where ``informs`` (the others must be uncoupled, with
    residual 0: rows of no information). S: (B, m, m) positive definite."""
    lam, U = torch.linalg.eigh(symmetrize(S))
    lam = lam.clamp(min=torch.finfo(S.dtype).tiny)
    z = (U.transpose(-1, -2) @ residual.unsqueeze(-1)).squeeze(-1)
    full = -0.5 * (LOG_2PI * S.shape[-1] + torch.log(lam).sum(-1) + (z * z / lam).sum(-1))
    ignored = torch.where(informs, 0.0, LOG_2PI + torch.log(torch.diagonal(S, dim1=-2, dim2=-1)))
    return full + 0.5 * ignored.sum(-1)


def log_likelihood(x: Tensor, evidence: LinearEvidence) -> Tensor:
    """log r(x) = log N(y; A x, R) per example; R must be positive definite (``proper``)."""
    residual = evidence.y - (evidence.A @ x.unsqueeze(-1)).squeeze(-1)
    return _log_gaussian_rows(residual, evidence.R, (evidence.A != 0).any(-1))


def log_predictive(mean: Tensor, var: Tensor, evidence: LinearEvidence) -> Tensor:
    """log of the product's normalizer, log integral N(x; mean, diag var) r(x) dx = log N(y; A mean, A V A^T + R).
    Finite for delta evidence (R = 0) too: it is the density of the known values under the kernel."""
    A = evidence.A
    residual = evidence.y - (A @ mean.unsqueeze(-1)).squeeze(-1)
    return _log_gaussian_rows(residual, (A * var.unsqueeze(-2)) @ A.transpose(-1, -2) + evidence.R, (A != 0).any(-1))


def proper(evidence: LinearEvidence, floor: float = 1e-12) -> LinearEvidence:
    """The same evidence with R a proper covariance: projected onto the positive semi-definite
    matrices (as ``matheron_update`` does) and its eigenvalues raised to at least ``floor`` times
    the largest. A carried-back R can be singular (a learned Jacobian, delta evidence); a draw
    that is a delta in some direction has no density for importance weights to divide by. R is
    left exactly as it was wherever it already is proper."""
    lam, U = torch.linalg.eigh(symmetrize(evidence.R))
    least = floor * lam.amax(-1, keepdim=True)
    raised = (U * lam.clamp(min=least).unsqueeze(-2)) @ U.transpose(-1, -2)
    improper = (lam < least).any(-1)[:, None, None]
    return LinearEvidence(evidence.A, evidence.y, torch.where(improper, raised, evidence.R))


def first_order_tilt(mean: Tensor, var: Tensor, grad_log_r: Tensor) -> Tensor:
    """The paper's form for a smooth r (Sec. 2.5.3): N(mu, Sigma) r ≈ N(mu + Sigma d log r/dx |_mu, Sigma).

    Returns the shifted mean; exact when log r is linear in x."""
    return mean + var * grad_log_r


def secant_tilt(mean: Tensor, var: Tensor, grad_at_mean: Tensor, grad_at_tilt: Tensor) -> Tensor:
    """The first-order tilt, shortened along its own ray by the curvature of log r there: with g_0
    the gradient at mu, the step d = Sigma g_0 and g_1 the gradient at mu + d, log N(mu + a d; mu, Sigma)
    + log r(mu + a d) is, to second order in a, largest at a = g_0.d / (2 g_0.d - g_1.d) (per example,
    over the last dimension). The product of two Gaussians exactly when Sigma times r's precision is
    a multiple of the identity on the step's span (isotropic r, equal variances); elsewhere the best
    point on the first-order ray. The first-order form for a linear log r (a = 1); a is kept in
    (0, 1], so the step is never longer than the first-order one, which overshoots by Sigma / R where
    r (variance R) is sharper than the step's own spread."""
    step = var * grad_at_mean
    slope_0 = (grad_at_mean * step).sum(-1, keepdim=True)  # d/da at a = 0, >= 0
    slope_1 = (grad_at_tilt * step).sum(-1, keepdim=True)  # d/da of log r at a = 1
    a = torch.where(slope_0 > 0, slope_0 / torch.maximum(2.0 * slope_0 - slope_1, slope_0), 1.0)
    return mean + a * step


def tweedie_covariance(jacobian: Tensor, alpha_bar: Tensor) -> Tensor:
    """Cov[x_0 | x_t] = (1 - alpha_bar_t) / sqrt(alpha_bar_t) * dE[x_0|x_t]/dx_t (Tweedie's formula
    to second order, for x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps), symmetrized (a
    learned Jacobian need not be symmetric; ``matheron_update`` projects the noise covariance it
    ends up in onto the positive semi-definite matrices).

    jacobian: (B, D, D); alpha_bar: (B,) or a scalar."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=jacobian.dtype, device=jacobian.device).reshape(-1, 1, 1)
    return symmetrize((1.0 - alpha_bar) / alpha_bar.sqrt() * jacobian)


def diffused_evidence(evidence: LinearEvidence, at: Tensor, x0_hat: Tensor, jacobian: Tensor,
                      cov_x0: Tensor) -> LinearEvidence:
    """The evidence about x_0 carried back to the state x_{t-1} = x (a Gaussian approximation).

    With x_0 | x ≈ N(x0_hat + J (x - at), C) (the model's prediction of x_0 linearized at ``at``,
    and its covariance C), y = A x_0 + n becomes y = A J x + A (x0_hat - J at) + n', with
    n' ~ N(0, R + A C A^T). Exact for Gaussian data, where E[x_0|x] is linear in x.
    x0_hat, at: (B, D); jacobian, cov_x0: (B, D, D)."""
    A = evidence.A
    AJ = A @ jacobian
    offset = (A @ (x0_hat - (jacobian @ at.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1)
    return LinearEvidence(A=AJ, y=evidence.y - offset, R=evidence.R + A @ cov_x0 @ A.transpose(-1, -2))


# -- the same, coordinate by coordinate (diagonal maps and noise: images) -----------------------
@dataclass(frozen=True)
class DiagonalEvidence:
    """r(x) = prod_i N(y_i; a_i x_i, r_i): evidence about each coordinate separately (float64 (B, D)).
    a_i = 0 (with y_i = 0, r_i > 0) means no evidence about coordinate i; r_i = 0 means exact."""

    a: Tensor
    y: Tensor
    r: Tensor

    def repeat(self, n: int) -> "DiagonalEvidence":
        return DiagonalEvidence(*(v.repeat_interleave(n, dim=0) for v in (self.a, self.y, self.r)))

    def take(self, rows) -> "DiagonalEvidence":
        return DiagonalEvidence(self.a[rows], self.y[rows], self.r[rows])


def diagonal_matheron_update(draw: Tensor, var: Tensor, evidence: DiagonalEvidence, eta: Tensor) -> Tensor:
    """``matheron_update`` for diagonal evidence: per coordinate, gain g = v a / (a^2 v + r)."""
    a, r = evidence.a, evidence.r.clamp(min=0.0)
    g = var * a / (a * a * var + r).clamp(min=torch.finfo(var.dtype).tiny)
    return draw + g * (evidence.y - a * draw - r.sqrt() * eta)


def diagonal_log_likelihood(x: Tensor, evidence: DiagonalEvidence) -> Tensor:
    """``log_likelihood`` coordinate by coordinate: sum_i log N(y_i; a_i x_i, r_i) where a_i != 0."""
    informs = evidence.a != 0
    return torch.where(informs, log_normal_terms(evidence.y, evidence.a * x, evidence.r), 0.0).sum(-1)


def diagonal_log_predictive(mean: Tensor, var: Tensor, evidence: DiagonalEvidence) -> Tensor:
    """``log_predictive`` coordinate by coordinate: sum_i log N(y_i; a_i mean_i, a_i^2 var_i + r_i) where a_i != 0."""
    a = evidence.a
    return torch.where(a != 0, log_normal_terms(evidence.y, a * mean, a * a * var + evidence.r), 0.0).sum(-1)


def proper_diagonal(evidence: DiagonalEvidence, floor: float = 1e-12) -> DiagonalEvidence:
    """``proper`` coordinate by coordinate: every r_i at least ``floor`` times the largest."""
    return DiagonalEvidence(evidence.a, evidence.y, evidence.r.clamp(min=0.0).maximum(floor * evidence.r.amax(-1, keepdim=True)))


def log_normal_terms(x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """log N(x_i; mean_i, var_i) elementwise (var_i = 0 gives -inf or nan: callers keep it away)."""
    return -0.5 * (LOG_2PI + torch.log(var) + (x - mean) ** 2 / var)


def diffused_diagonal_evidence(evidence: DiagonalEvidence, at: Tensor, x0_hat: Tensor, slope: Tensor,
                               var_x0: Tensor) -> DiagonalEvidence:
    """``diffused_evidence`` with x_0,i | x ≈ N(x0_hat_i + slope_i (x_i - at_i), var_x0_i), coordinate by coordinate."""
    a = evidence.a
    return DiagonalEvidence(a=a * slope, y=evidence.y - a * (x0_hat - slope * at), r=evidence.r + a * a * var_x0)


def kernel_x0_variance(kernel_var: Tensor, beta_tilde: Tensor, c_x0: Tensor) -> Tensor:
    """Var[x_0|x_t] from the reverse kernel's variance, which is beta_tilde_t + c_x0^2 Var[x_0|x_t]
    at the optimum (clamped at 0: a learned variance may fall below beta_tilde_t)."""
    return ((kernel_var - beta_tilde) / c_x0**2).clamp(min=0.0)


def tweedie_slope(var_x0: Tensor, alpha_bar: Tensor) -> Tensor:
    """dE[x_0|x_t]/dx_t on the diagonal from Var[x_0|x_t] by Tweedie: sqrt(abar) / (1 - abar) * Var."""
    return alpha_bar.sqrt() / (1.0 - alpha_bar) * var_x0


# -- noisy data as a diffused state ----------------------------------------------------------------
def split_observation(y: Tensor, v: Tensor, lam: float, z: Tensor) -> tuple[Tensor, DiagonalEvidence]:
    """One Gaussian observation y = x + n, n ~ N(0, v) per coordinate, as two independent ones
    that together carry exactly its information (1/lam + (lam - v)/(v lam) = 1/v):
        y1 = y + sqrt(lam - v) z        ~ N(x, lam)              (any lam >= v),
        y2 = y - v / sqrt(lam - v) z    ~ N(x, v lam / (lam - v)),
    with z ~ N(0, 1) (Cov[y1, y2] = v - v = 0). Where lam = v, y2 carries nothing.
    Returns y1 and y2 as evidence (a = 1 where it informs, a = 0 elsewhere)."""
    gap = (lam - v).clamp(min=0.0)
    informs = gap > 1e-12 * lam
    safe_gap = torch.where(informs, gap, torch.ones_like(gap))
    y1 = y + gap.sqrt() * z
    y2 = torch.where(informs, y - v / safe_gap.sqrt() * z, 0.0)
    r2 = torch.where(informs, v * lam / safe_gap, 1.0)
    return y1, DiagonalEvidence(a=informs.to(y.dtype), y=y2, r=r2)


def matched_step(alpha_bar: Tensor, v_max: float) -> int | None:
    """The first step s >= 1 whose noise is at least v_max on the data's scale, (1 - abar_s)/abar_s >= v_max:
    noisy data y = x_0 + N(0, v <= v_max) then give x_s = sqrt(abar_s) y1 ~ q(x_s | x_0) exactly
    (``split_observation`` with lam = (1 - abar_s)/abar_s). None if only the last step is that noisy."""
    lam = (1.0 - alpha_bar[1:]) / alpha_bar[1:].clamp(min=torch.finfo(alpha_bar.dtype).tiny)
    hits = torch.nonzero(lam[:-1] >= v_max)
    return int(hits[0, 0]) + 1 if hits.numel() else None


def diffused_score_weights(evidence: DiagonalEvidence, x0_hat: Tensor, var_x0: Tensor) -> Tensor:
    """e with d log r_t / dx = J^T e for r_t(x) = prod_k N(y_k; a_k x0_hat_k(x), r_k + a_k^2 var_x0_k):
    e_k = a_k (y_k - a_k x0_hat_k) / (r_k + a_k^2 var_x0_k) (0 where that variance vanishes).
    J^T e, less its diagonal part, carries evidence between coordinates to first order."""
    a = evidence.a
    total = evidence.r + a * a * var_x0
    ok = total > 0
    return torch.where(ok, a * (evidence.y - a * x0_hat) / torch.where(ok, total, torch.ones_like(total)), 0.0)
