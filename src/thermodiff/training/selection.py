"""Which moving average of the weights to keep, judged on training examples set aside.

Every validation scores the same examples with the same draws (the same steps t and noise, from
a fixed seed), so the per-example bounds of two sets of weights differ only by what training
changed, and the spread of the paired differences is the noise of the comparison. Later weights
have trained longer, so they are kept unless they score worse than the best weights so far by
more than that noise: a guard against overfitting that does not take noise for it (choosing the
highest noisy score would often keep early, undertrained weights).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import Coordinates
from ..evaluation.evaluate import evaluate
from ..model import DiffusionModel
from ..presets import PERIODIC_ESTIMATOR, VALIDATION_ESTIMATOR, VALIDATION_EVALUATIONS
from .checkpoint import Selected

Z = 2.0  # how many standard errors of the paired difference count as worse


def paired_difference(new: Tensor, reference: Tensor) -> tuple[float, float]:
    """(mean, standard error) of new - reference over the same examples and draws."""
    d = (new - reference).double()
    se = float(d.std(unbiased=True)) / math.sqrt(d.numel()) if d.numel() > 1 else float("inf")
    return float(d.mean()), se


def keep_later(new: Tensor, best: Tensor, z: float = Z) -> bool:
    """True unless the later weights' bounds ``new`` fall below the best's by more than z standard errors."""
    mean, se = paired_difference(new, best)
    return mean >= -z * se


class Validation:
    """The set-aside examples (data coordinates) and the fixed estimator that scores them."""

    def __init__(self, x: np.ndarray, coordinates: Coordinates):
        self.x = x
        self.coordinates = coordinates

    def judge(self, model: DiffusionModel, step: int, previous: Selected | None) -> tuple[Selected | None, float]:
        """(the weights to keep, ``model``'s validation K): ``model``'s, unless clearly worse than the best so far."""
        config = VALIDATION_ESTIMATOR
        rows = model.steps.rows_per_example(config.t_samples)
        x = self.x[: max(64, VALIDATION_EVALUATIONS // (config.trajectories * rows))]
        scores = torch.as_tensor(evaluate(model, x, self.coordinates, config, uniform_steps=True).per_example_data())
        K = float(scores.mean())
        if previous is None or previous.best is None or K > float(previous.best.mean()):
            best, best_step = scores, step
        elif keep_later(scores, previous.best):
            best, best_step = previous.best, previous.best_step
        else:
            return previous, K
        weights = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        return Selected(weights, step, K, best, best_step), K


def periodic_report(model: DiffusionModel, heldout: np.ndarray, coordinates: Coordinates, step: int,
                    running_K: float) -> dict[str, Any]:
    """The held-out bound of the moving average, quickly estimated (metrics.jsonl's records)."""
    summary = evaluate(model, heldout, coordinates, PERIODIC_ESTIMATOR).summary()
    return {"step": step, "running_K": running_K, **{k: summary[k] for k in ("K", "K_data", "stderr")}}
