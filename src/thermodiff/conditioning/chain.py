"""Running conditioned reverse chains in batches, for every example of the evidence."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .base import Conditioner
from .config import PosteriorConfig
from .evidence import Evidence, Smooth
from .report import Posterior


def run_chains(conditioner: Conditioner, evidence: Evidence, config: PosteriorConfig,
               progress: Callable[[int], None] | None = None) -> Posterior:
    """Posterior samples in data coordinates, shape (n_samples, N, *shape) (for ``Smooth``
    evidence, (n, *shape)), each from its own chain. ``progress`` is called with the number of
    reverse steps done."""
    model = conditioner.model
    device = next(model.parameters()).device
    prepared = conditioner.prepare(evidence, device)
    n_examples = prepared.count()
    per_example = 1 if isinstance(evidence, Smooth) else config.n_samples
    total = n_examples * per_example
    example_of = np.repeat(np.arange(n_examples), per_example)  # chain -> example
    generator = torch.Generator(device=device).manual_seed(config.seed)
    out = []
    for start in range(0, total, config.chains):
        rows = example_of[start:start + config.chains]
        x, first, path = prepared.select(torch.as_tensor(rows, device=device)).start(rows.size, generator)
        if progress is not None:
            progress(model.T - first)
        for t in range(first, 0, -1):
            x = path.step(x, t, generator)
            if progress is not None:
                progress(1)
        out.append(path.finish(x, evidence, rows))
    samples = np.concatenate(out)
    if isinstance(evidence, Smooth):
        return Posterior(samples)
    return Posterior(samples.reshape(n_examples, per_example, *samples.shape[1:]).swapaxes(0, 1))
