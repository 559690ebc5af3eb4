"""Which moving average of the weights to keep, judged on training examples set aside.

Every validation scores the same examples with the same draws (the same steps t and noise, from
a fixed seed; see train.py), so the per-example bounds of two sets of weights differ only by what training changed,
and the spread of the paired differences is the noise of the comparison. Later weights have
trained longer, so they are kept unless they score worse than the best weights so far by more
than that noise: a guard against overfitting that does not take noise for it (choosing the
highest noisy score would often keep early, undertrained weights).
"""

from __future__ import annotations

import math

from torch import Tensor

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
