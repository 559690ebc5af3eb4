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

    def rate(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.rate()
        for shadow, live in zip(self.model.parameters(), model.parameters()):
            shadow.lerp_(live.detach(), 1.0 - d)
        for shadow, live in zip(self.model.buffers(), model.buffers()):
            shadow.copy_(live)
        self.updates += 1
