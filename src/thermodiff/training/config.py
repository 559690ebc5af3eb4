"""Settings of the training loop (one source of defaults; the CLI is generated from it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..config import coerce_enums, option
from ..errors import ConfigError
from ..variance import TSampling


class OptimizerKind(str, Enum):
    ADAM = "adam"
    RMSPROP = "rmsprop"


# The settings that may change when a run continues (--resume); the others make the run what it is.
RESUMABLE = frozenset({"steps", "eval_every", "eval_examples", "checkpoint_every"})


@dataclass(frozen=True)
class TrainConfig:
    """How the reverse process is fitted: gradient ascent on the bound K."""

    steps: int = option(8000, "total optimizer steps of the run (--resume continues up to this)")
    batch_size: int = option(1024, "examples per step, summed over processes")
    lr: float = option(2e-3, "peak learning rate")
    optimizer: OptimizerKind = option(OptimizerKind.ADAM, "optimizer (the paper's code used RMSprop)")
    warmup: int = option(200, "steps of linear learning-rate warm-up")
    decay_from: float = option(0.5, "fraction of the run (steps or --time-limit) after which the learning rate decays to 0 (cosine)")
    ema_decay: float = option(0.999, "decay of the moving average of weights used for evaluation and sampling")
    grad_clip: float = option(1.0, "clip the gradient norm to this")
    t_sampling: TSampling = option(TSampling.IMPORTANCE, "how training draws the step t")
    seed: int = option(0, "seed of initialization, batches, steps and noise")
    validation_fraction: float = option(0.0, "fraction of the training examples set aside (not trained on) to "
                                             "choose, at each evaluation, the moving average to keep: the latest, "
                                             "unless it scores worse on them than the best so far by more than the "
                                             "noise (guards against overfitting; the held-out split stays untouched)")
    eval_every: int = option(2000, "steps between held-out evaluations during training")
    eval_examples: int = option(1000, "held-out examples in each periodic evaluation")
    checkpoint_every: int = option(1000, "steps between checkpoints")

    def __post_init__(self) -> None:
        coerce_enums(self)
        for name in ("steps", "batch_size", "eval_every", "eval_examples", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must not be negative, got {self.warmup}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not self.grad_clip > 0:
            raise ConfigError(f"grad_clip must be positive, got {self.grad_clip}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction}")
        if not 0.0 <= self.decay_from <= 1.0:
            raise ConfigError(f"decay_from must lie in [0, 1], got {self.decay_from}")
