"""Diffusion processes: the interface (``base``) and one module per process.

A new process is a module of math in ``equations/``, a ``DiffusionProcess`` subclass here, and
one row in ``PROCESSES`` (plus its row in ``conditioning.CONDITIONERS``).
"""

from __future__ import annotations

from .base import DiffusionConfig, DiffusionProcess, DiscreteProcess, ProcessKind
from .binomial import BinomialDiffusion, ReverseBernoulli
from .continuous import ContinuousDiffusion
from .gaussian import GaussianDiffusion

PROCESSES: dict[ProcessKind, type[DiffusionProcess]] = {
    ProcessKind.GAUSSIAN: GaussianDiffusion,
    ProcessKind.BINOMIAL: BinomialDiffusion,
    ProcessKind.CONTINUOUS: ContinuousDiffusion,
}


def process_class(kind: ProcessKind) -> type[DiffusionProcess]:
    return PROCESSES[ProcessKind(kind)]


def make_process(config: DiffusionConfig) -> DiffusionProcess:
    return process_class(config.process)(config)


__all__ = ["PROCESSES", "BinomialDiffusion", "ContinuousDiffusion", "DiffusionConfig", "DiffusionProcess", "DiscreteProcess",
           "GaussianDiffusion", "ProcessKind",
           "ReverseBernoulli", "make_process", "process_class"]
