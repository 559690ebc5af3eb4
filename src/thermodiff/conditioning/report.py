"""What posterior sampling returns: the samples and, for sequential Monte Carlo, what its particles found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ParticleReport:
    """Per observation (arrays of shape (N,)): the evidence's log marginal likelihood and how well
    the particles covered the posterior."""

    log_evidence: np.ndarray  # log p(y) = log \int p(x_0) r(x_0) dx_0 in nats, data coordinates (a density of y)
    log_evidence_stderr: np.ndarray  # its standard error (see ``stderr_from``)
    ess: np.ndarray  # effective sample size of the final weights, of ``particles``, averaged over the systems
    resamplings: np.ndarray  # reverse steps after which a system resampled, averaged over the systems
    particles: int  # M, particles per system
    systems: int  # independent systems per observation
    stderr_from: str  # "independent systems" (their spread) or "ESS" (one system: the sum over epochs of 1/ESS - 1/M)
    # (sum Z_k)^2 / sum Z_k^2 over the systems: how many of them carry the mean Z (``systems`` when they agree)
    systems_ess: np.ndarray

    def observations(self) -> list[dict[str, float]]:
        """One record per observation, as written by ``--json-out``."""
        return [{"log_p_y_nats": float(z), "log_p_y_stderr_nats": float(se), "ess": float(e), "resamplings": float(r),
                 "systems_ess": float(k)}
                for z, se, e, r, k in zip(self.log_evidence, self.log_evidence_stderr, self.ess, self.resamplings,
                                          self.systems_ess)]

    def carried_by_few(self) -> np.ndarray:
        """(N,) bool: with two systems or more, at most a quarter of them (of at most 16; at least 1.5
        systems' worth) carry the mean. Its standard error, a sample sd of Z_k whose tail the systems
        do not sample, is then too small to trust."""
        if self.systems < 2:
            return np.zeros(self.systems_ess.shape, dtype=bool)
        return self.systems_ess <= max(1.5, 0.25 * min(self.systems, 16)) + 1e-9

    def summary(self) -> dict[str, Any]:
        return {"method": "smc", "particles": self.particles, "systems_per_observation": self.systems,
                "stderr_from": self.stderr_from, "observations": self.observations()}


@dataclass(frozen=True)
class Posterior:
    """Posterior samples in data coordinates, and the particles' report (the smc method only)."""

    samples: np.ndarray  # (n_samples, N, *shape); for ``Smooth`` evidence (n, *shape)
    report: ParticleReport | None = None
