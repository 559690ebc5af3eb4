"""Sequential Monte Carlo over the reverse chain: samples that converge to the model's own posterior.

A system is M particles that run down the chain together (Wu et al. 2023, the twisted diffusion
sampler; Cardoso et al. 2024, MCGdiff). Each particle proposes x_{t-1} with the diffused step g_t
(its path's ``weighted_step``) and its weight is multiplied by

    w_t = p(x_{t-1} | x_t) r_{t-1}(x_{t-1}) / (g_t(x_{t-1} | x_t) r_t(x_t)),

with the diffused evidence r_t as the twisting function and r_0 = r. Over the chain the twists
cancel and a particle's weight is p(x_{0:T}) r(x_0) / g(x_{0:T}): an importance weight for the
model's posterior p(x_0) r(x_0) / Z, whatever the model and the evidence. When a system's
effective sample size falls below ``ess_threshold`` M, it resamples (heavy particles are copied,
light ones dropped) and its weights start again at 1. The product over those epochs of the mean
weight estimates Z = p(y) = E_p[r(x_0)] without bias, also when the ESS decides when to resample
(Whiteley, Lee & Heine 2016). As M grows the particles' distribution tends to the posterior;
with M = 1 nothing is ever resampled and the particle is a diffused chain started at T.

The n samples of an observation come from K = ceil(n / M) independent systems, n / K from each
after a final resampling; log p(y) is the log of the mean of their K estimates, and its standard
error comes from their spread (K >= 2) or, for one system, from its ESS (``relative_variance``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..equations import particles as smc
from ..errors import DataError
from .base import Conditioner, Draw, ParticlePath
from .config import PosteriorConfig, Resampling
from .evidence import Evidence, Smooth
from .report import ParticleReport, Posterior

COUNTS: dict[Resampling, Callable[[Tensor, int, Tensor], Tensor]] = {
    Resampling.SYSTEMATIC: smc.systematic_counts,
    Resampling.RESIDUAL: smc.residual_counts,
}


@dataclass(frozen=True)
class Systems:
    """S systems of M particles; particle j of system i is row i M + j of ``x`` and ``log_twist``."""

    x: Tensor  # (S M, ...) the particles' states
    log_w: Tensor  # (S, M) float64: log weights since the last resampling (-inf: the weight vanished)
    log_twist: Tensor  # (S M,) log r_t(x_t), which the next step's weight divides by
    log_z: Tensor  # (S,) sum over finished epochs of log (mean weight)
    var_log_z: Tensor  # (S,) sum over finished epochs of 1/ESS - 1/M
    resamplings: Tensor  # (S,)

    @classmethod
    def begin(cls, draw: Draw, S: int) -> "Systems":
        zero = torch.zeros(S, dtype=torch.float64, device=draw.log_gain.device)
        return cls(draw.x, draw.log_gain.reshape(S, -1), draw.log_twist, zero, zero, zero)

    def advance(self, draw: Draw) -> "Systems":
        """Each particle moved to ``draw.x``, its weight times p r_{t-1} / (g r_t)."""
        increment = (draw.log_gain - self.log_twist).reshape(self.log_w.shape)
        alive = self.log_w > -math.inf  # a vanished weight stays 0 (and its twist may be -inf: no inf - inf)
        log_w = torch.where(alive, self.log_w + increment, self.log_w)
        return Systems(draw.x, log_w, draw.log_twist, self.log_z, self.var_log_z, self.resamplings)

    def resampled(self, needs: Tensor, parents: Tensor) -> "Systems":
        """Systems where ``needs`` (S,) take the particles ``parents`` (S, M) with weights 1; the rest stay."""
        S, M = self.log_w.shape
        parents = torch.where(needs[:, None], parents, torch.arange(M, device=parents.device))
        rows = (parents + M * torch.arange(S, device=parents.device)[:, None]).flatten()
        return Systems(self.x[rows], torch.where(needs[:, None], 0.0, self.log_w), self.log_twist[rows],
                       self.log_z + torch.where(needs, smc.log_mean_weight(self.log_w), 0.0),
                       self.var_log_z + torch.where(needs, smc.relative_variance(self.log_w), 0.0),
                       self.resamplings + needs.to(self.resamplings.dtype))


def check_weights(log_w: Tensor, t: int, observation: np.ndarray) -> None:
    """One clear error, never NaN: a weight that is not a number, or a system whose weights all vanished."""
    if torch.isnan(log_w).any() or (log_w == math.inf).any():
        raise DataError(f"smc: a particle's weight became NaN or infinite at step {t}: the model or log r returned "
                        f"a value that is not a finite number")
    dead = (log_w == -math.inf).all(-1).cpu().numpy()
    if dead.any():
        which = sorted(set(observation[dead].tolist()))
        raise DataError(f"smc: every particle's weight vanished at step {t} (observation {which[0]}"
                        f"{f' and {len(which) - 1} more' if len(which) > 1 else ''}): r is 0 at every particle. "
                        f"More particles may find where r > 0; an r that is 0 almost everywhere (a narrow box) "
                        f"needs widening or a soft edge")


def resample(systems: Systems, config: PosteriorConfig, generator: torch.Generator) -> Systems:
    """Resample the systems whose effective sample size fell below ess_threshold M."""
    S, M = systems.log_w.shape
    needs = smc.effective_sample_size(systems.log_w) < config.ess_threshold * M
    if not needs.any():
        return systems
    return systems.resampled(needs, draw_ancestors(systems.log_w, M, config.resampling, generator))


def draw_ancestors(log_w: Tensor, n: int, scheme: Resampling, generator: torch.Generator) -> Tensor:
    """n ancestors per system (S, n) drawn by ``scheme`` in proportion to the weights."""
    u = torch.rand(log_w.shape[0], generator=generator, dtype=log_w.dtype, device=log_w.device)
    return smc.ancestors(COUNTS[scheme](smc.normalized_weights(log_w), n, u), n)


def run_systems(path: ParticlePath, T: int, observation: np.ndarray, M: int, config: PosteriorConfig,
                generators: tuple[torch.Generator, torch.Generator], progress: Callable[[int], None] | None) -> Systems:
    """Systems of M particles for the observations ``observation`` (one per system), from T down to x_0."""
    proposals, resampling = generators
    S = observation.size
    systems = Systems.begin(path.weighted_start(S * M, proposals), S)
    check_weights(systems.log_w, T, observation)
    for t in range(T, 0, -1):
        systems = resample(systems, config, resampling)
        systems = systems.advance(path.weighted_step(systems.x, systems.log_twist, t, proposals))
        check_weights(systems.log_w, t - 1, observation)
        if progress is not None:
            progress(1)
    return systems


def run_particles(conditioner: Conditioner, evidence: Evidence, config: PosteriorConfig,
                  progress: Callable[[int], None] | None = None) -> Posterior:
    """Posterior samples (as ``run_chains``) and, per observation, log p(y) and the final ESS."""
    device = next(conditioner.model.parameters()).device
    prepared = conditioner.prepare(evidence, device)
    if not isinstance(prepared, ParticlePath):
        raise TypeError(f"{type(prepared).__name__} cannot weigh its draws; the smc method needs a ParticlePath")
    n_obs, per_obs = (1, evidence.n) if isinstance(evidence, Smooth) else (prepared.count(), config.n_samples)
    M = config.particles
    K = math.ceil(per_obs / M)
    n_k = math.ceil(per_obs / K)  # samples drawn from each system (the last few are not kept)
    system_of = np.repeat(np.arange(n_obs), K)  # system -> observation
    generators = (torch.Generator(device=device).manual_seed(config.seed),  # the proposals: diffused's own stream
                  torch.Generator(device=device).manual_seed(resampling_seed(config.seed)))
    samples, finals = [], []
    per_batch = max(1, config.chains // M)
    for start in range(0, system_of.size, per_batch):
        observation = system_of[start:start + per_batch]
        path = prepared.select(torch.as_tensor(np.repeat(observation, M), device=device))
        systems = run_systems(path, conditioner.model.T, observation, M, config, generators, progress)
        rows = draw_ancestors(systems.log_w, n_k, config.resampling, generators[1])
        rows = (rows + M * torch.arange(observation.size, device=device)[:, None]).flatten()
        samples.append(path.finish(systems.x[rows], evidence, np.repeat(observation, n_k)))
        finals.append(torch.stack([systems.log_z + smc.log_mean_weight(systems.log_w),
                                   systems.var_log_z + smc.relative_variance(systems.log_w),
                                   smc.effective_sample_size(systems.log_w), systems.resamplings], -1))
    out = np.concatenate(samples).reshape(n_obs, K * n_k, *samples[0].shape[1:])[:, :per_obs].swapaxes(0, 1)
    report = particle_report(torch.cat(finals).reshape(n_obs, K, 4), M)
    return Posterior(out[:, 0] if isinstance(evidence, Smooth) else out, report)


def particle_report(finals: Tensor, M: int) -> ParticleReport:
    """Per observation, from (N, K, [log Z_k, var of log Z_k by ESS, final ESS, resamplings]) of its K systems."""
    K = finals.shape[1]
    if K > 1:
        log_z, stderr = smc.log_mean_of_systems(finals[..., 0])
    else:
        log_z, stderr = finals[:, 0, 0], finals[:, 0, 1].sqrt()
    mean = finals.mean(1).cpu().numpy()
    return ParticleReport(log_evidence=log_z.cpu().numpy(), log_evidence_stderr=stderr.cpu().numpy(), ess=mean[:, 2],
                          resamplings=mean[:, 3], particles=M, systems=K,
                          stderr_from="independent systems" if K > 1 else "ESS",
                          systems_ess=smc.effective_sample_size(finals[..., 0]).cpu().numpy())


def resampling_seed(seed: int) -> int:
    """A seed for resampling's own stream, so that the proposals draw the same numbers as the diffused method."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
