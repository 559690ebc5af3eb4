"""Exponential moving average of the weights, with the warm-up the first evaluations need.

decay_n = min(decay, (1 + n) / (10 + n)) after n updates: without the warm-up the average is
dominated by the random initial weights for thousands of steps.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, updates: int = 0):
        self.decay = decay
        self.updates = updates
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._shadow = (list(self.model.parameters()), list(self.model.buffers()))
        self._live: tuple[nn.Module, list, list] | None = None

    def rate(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow <- shadow + (1 - d)(live - shadow) for every parameter (buffers are copied)."""
        if self._live is None or self._live[0] is not model:  # the lists are gathered once per model
            self._live = (model, list(model.parameters()), list(model.buffers()))
        _, params, buffers = self._live
        torch._foreach_lerp_(self._shadow[0], params, 1.0 - self.rate())
        torch._foreach_copy_(self._shadow[1], buffers)
        self.updates += 1
