"""x_hat's error across time, measured on training examples: what fixes a continuous-time run's
N-step chain (its grid and its steps' variances; processes/continuous.py, ``discretized``).

The profile is part of the N-step model, so it comes from training examples, never from the
examples that model is scored on; any profile gives a valid model and an honest bound, a good one
a tighter bound.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import Tensor

from ..model import DiffusionModel
from ..processes.continuous import DenoisingProfile
from .work import NoProgress, Progress

CANDIDATES = 1000  # candidate steps: t_k = k / CANDIDATES
EXAMPLES = 128  # training examples the error is averaged over
ROWS = 2**16  # numbers per network call (examples x dimensions x times)


def candidate_times(candidates: int, device: torch.device) -> Tensor:
    return torch.linspace(0.0, 1.0, candidates + 1, dtype=torch.float64, device=device)


@torch.no_grad()
def measure_profile(model: DiffusionModel, x0: Tensor, generator: torch.Generator, candidates: int = CANDIDATES,
                    progress: Progress | None = None) -> DenoisingProfile:
    """e(t_k) = mean over examples and dimensions of (x - x_hat(z_t, t))^2 at t_k = k / K, for
    training examples ``x0`` (model coordinates, float64). Every time sees the same noise draw of
    each example (common random numbers), so the curve's shape is smooth in t and the grid chosen
    from it follows the error, not the draws' noise."""
    progress = progress or NoProgress()
    process, n = model.process, x0.shape[0]
    times = candidate_times(candidates, x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=torch.float64)
    per_call = max(1, ROWS // (n * x0[0].numel()))  # times per network call
    table = process.table()
    mse = torch.empty_like(times)
    progress.start("x_hat's error at each candidate time (once per checkpoint)", times.numel(), "times")
    for start in range(0, times.numel(), per_call):
        chunk = times[start:start + per_call]
        t = chunk.repeat_interleave(n)
        x = x0.repeat(chunk.numel(), *([1] * (x0.dim() - 1)))
        zt = process.q_sample(x, t, eps.repeat(chunk.numel(), *([1] * (x0.dim() - 1))), table)
        err = (x - model.kernel(zt, t, table).x0_hat) ** 2
        mse[start:start + chunk.numel()] = err.reshape(chunk.numel(), -1).mean(1)
        progress.advance(chunk.numel())
    progress.finish()
    return DenoisingProfile(times=times, mse=mse)


def weights_digest(model: DiffusionModel) -> str:
    """Which weights a profile was measured for: a digest of the model's parameters and buffers."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def profile_record(profile: DenoisingProfile, weights: str, examples: int) -> dict[str, Any]:
    return {"format": "thermodiff-denoising-profile", "weights": weights, "examples": examples,
            "times": profile.times.tolist(), "mse": profile.mse.tolist()}


def profile_from_record(record: dict[str, Any], weights: str) -> DenoisingProfile | None:
    """The stored profile if it was measured for these weights, else None (measure it again)."""
    if record.get("format") != "thermodiff-denoising-profile" or record.get("weights") != weights:
        return None
    times = torch.tensor(record["times"], dtype=torch.float64)
    mse = torch.tensor(record["mse"], dtype=torch.float64)
    if times.shape != mse.shape or times.numel() < 2 or not bool(torch.isfinite(mse).all()):
        return None
    return DenoisingProfile(times=times, mse=mse)
