"""Denoising z-scored data with the diffused method starts below T: noisy data are themselves a
diffused state.

Per coordinate y = w + N(0, v). At the first step s whose noise (1 - abar_s) / abar_s is at
least every v, y splits into y1 ~ N(w, (1 - abar_s)/abar_s) and an independent leftover y2
(``split_observation``); x_s = sqrt(abar_s) y1 is an exact draw of q(x_s | w), and the chain
runs from s with the leftover as its evidence. Given the model's x_0 | x_s this is exact; it
spares the steps above s, where diffused evidence is only approximate. (Kadkhodaie and
Simoncelli 2021 and SDEdit, Meng et al. 2022, start from noisy images the same way.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor

from ..equations.products import DiagonalEvidence, matched_step, split_observation
from .affine import NoisyData
from .base import Start
from .gaussian_path import GaussianPath, GaussianReverse, standard_normal


@dataclass(frozen=True)
class NoisyStart(Start):
    """Chains that start from the noisy data at the matched step, then follow ``below``."""

    reverse: GaussianReverse
    noisy: NoisyData
    below: Callable[[GaussianReverse, DiagonalEvidence], GaussianPath]  # the path, given evidence about w

    def count(self) -> int:
        return self.noisy.y.shape[0]

    def select(self, rows: Tensor) -> "NoisyStart":
        return replace(self, noisy=self.noisy.take(rows))

    def start(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, int, GaussianPath]:
        alpha_bar = self.reverse.table.alpha_bar
        y, v = self.noisy.y, self.noisy.v
        s = matched_step(alpha_bar, float(v.max()))
        if s is None:  # noisier than every step above the last: start at T with all the evidence
            return self.below(self.reverse, self.noisy.evidence()).start(n, generator)
        lam = float((1.0 - alpha_bar[s]) / alpha_bar[s])
        y1, rest = split_observation(y, v, lam, standard_normal(y.shape, generator, y))
        return alpha_bar[s].sqrt() * y1, s, self.below(self.reverse, rest)
