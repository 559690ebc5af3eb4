"""Every default's one home: typed settings per kind of data, and the run's configuration.

The dataclass defaults of each component are the settings for real-valued vectors. Binary data
and images get their own ``Preset``s below, built from those defaults with ``replace`` (so every
name is checked), each change with the measurement or the paper it comes from. ``configure``
puts a run's settings together: the preset of its kind of data, then what the user gave, then
settings that depend on the training data (binomial diffusion's pi). ``thermodiff train --help``
shows each kind's value beside the default (``kind_values``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np

from .data import DataConfig, Dataset, NormalizationKind, is_binary
from .errors import ConfigError
from .evaluation.config import EvalConfig
from .networks import ModelConfig, NetworkKind
from .processes import DiffusionConfig, ProcessKind, process_class
from .schedule import ScheduleKind
from .training.config import TrainConfig


class DataKind(str, Enum):
    VECTORS = "vectors"
    BINARY = "binary"
    IMAGES = "images"
    BINARY_IMAGES = "binary images"


@dataclass(frozen=True)
class Preset:
    data: DataConfig
    diffusion: DiffusionConfig
    model: ModelConfig
    train: TrainConfig
    eval: EvalConfig


VECTORS = Preset(DataConfig(), DiffusionConfig(), ModelConfig(), TrainConfig(), EvalConfig())

# Binary data, as in the paper's heartbeat run: binomial diffusion, T = 2000, beta_t = 1/(T - t + 1).
# Training: the last thousandths of a bit take long (heartbeat, --time-limit 10: K = -2.334 after
# 8000 steps, -2.329 after 15000; the best factorized kernel's is -2.325), but data with many
# distinct patterns overfit that long (16 bits: held-out K fell after 4000 steps while the training
# bound passed the truth), so 5% of the training examples choose the weights kept. Estimator: the
# sum over every step, the more precise per network evaluation here (heartbeat, 2000 sequences:
# every step x 4 draws gave stderr 0.0012 bits with 8000 evaluations per sequence; 200 sampled
# steps x 16 gave 0.003 with 3216), because drawing the steps adds noise to terms that are each tiny.
BINARY = Preset(
    data=replace(VECTORS.data, normalization=NormalizationKind.NONE),
    diffusion=replace(VECTORS.diffusion, process=ProcessKind.BINOMIAL, T=2000, schedule=ScheduleKind.PAPER,
                      beta_1=1.0 / 2000),
    model=VECTORS.model,
    train=replace(VECTORS.train, steps=20000, validation_fraction=0.05),
    eval=replace(VECTORS.eval, t_samples=0, trajectories=2),
)

# Images: per-pixel z-scoring, the paper's multi-scale network, T = 1000 and small batches (the
# paper's images); 50 sampled steps x 2 draws score 2000 held-out 16x16 images in minutes, unbiased.
IMAGES = Preset(
    data=replace(VECTORS.data, normalization=NormalizationKind.ZSCORE),
    diffusion=replace(VECTORS.diffusion, T=1000),
    model=replace(VECTORS.model, network=NetworkKind.MULTISCALE),
    train=replace(VECTORS.train, batch_size=64, lr=1e-3, eval_every=1000, eval_examples=200, checkpoint_every=250),
    eval=replace(VECTORS.eval, trajectories=2, t_samples=50),
)

# Binary images: binomial diffusion with the images' network, loop settings and estimator.
BINARY_IMAGES = Preset(
    data=BINARY.data,
    diffusion=replace(BINARY.diffusion, T=1000),
    model=IMAGES.model,
    train=replace(IMAGES.train, steps=BINARY.train.steps, validation_fraction=BINARY.train.validation_fraction),
    eval=IMAGES.eval,
)

PRESETS: dict[DataKind, Preset] = {DataKind.VECTORS: VECTORS, DataKind.BINARY: BINARY, DataKind.IMAGES: IMAGES,
                                   DataKind.BINARY_IMAGES: BINARY_IMAGES}

# The estimators training runs on itself. Periodic held-out reports: 64 sampled steps, 2 draws.
# Validation scores the set-aside examples (up to VALIDATION_EVALUATIONS network evaluations) at 64
# uniformly drawn steps, 2 antithetic pairs, from a fixed seed, so that scores pair up example by
# example. Many examples matter more than many steps: overfitting moves each example's bound its
# own way (bernmix16: 262 examples scored at every step missed a decline that 900 at 64 steps showed).
PERIODIC_ESTIMATOR = EvalConfig(trajectories=2, t_samples=64)
VALIDATION_ESTIMATOR = EvalConfig(trajectories=4, t_samples=64)
VALIDATION_EVALUATIONS = 2**20


@dataclass(frozen=True)
class RunConfig:
    """Everything a run is trained with (what config.json records)."""

    data: DataConfig
    diffusion: DiffusionConfig
    model: ModelConfig
    train: TrainConfig


def kind_of(binary: bool, images: bool) -> DataKind:
    if binary:
        return DataKind.BINARY_IMAGES if images else DataKind.BINARY
    return DataKind.IMAGES if images else DataKind.VECTORS


def infer_kind(dataset: Dataset, process: ProcessKind | None) -> DataKind:
    """Binary when the process asked for has 0/1 states, or none was asked for and the data are all 0/1."""
    binary = (not process_class(process).continuous) if process is not None else is_binary(dataset.x)
    return kind_of(binary, dataset.is_images)


def _check_given(kind: DataKind, data: dict[str, Any]) -> None:
    if data.get("normalization") is None:
        return
    normalization = NormalizationKind(data["normalization"])
    if kind in (DataKind.BINARY, DataKind.BINARY_IMAGES) and normalization is not NormalizationKind.NONE:
        raise ConfigError("binary data are modelled as they are (0 and 1): --normalization none is the only choice")
    if kind is DataKind.IMAGES and normalization is NormalizationKind.WHITEN:
        raise ConfigError("images are z-scored per pixel (--normalization zscore, the default for them); "
                          "whitening is not offered")


def configure(dataset: Dataset, train_x: np.ndarray, given: dict[str, dict[str, Any]]) -> RunConfig:
    """The run's settings: the preset of the data's kind, then ``given[section][field]`` (sections
    data, diffusion, model, mlp, multiscale, unet, train), then settings fitted to ``train_x``."""
    kind = infer_kind(dataset, given.get("diffusion", {}).get("process"))
    preset = PRESETS[kind]
    _check_given(kind, given.get("data", {}))
    diffusion = replace(preset.diffusion, **given.get("diffusion", {}))
    process = process_class(diffusion.process)
    process.check_data(dataset.x, dataset.name)
    model = replace(preset.model, mlp=replace(preset.model.mlp, **given.get("mlp", {})),
                    multiscale=replace(preset.model.multiscale, **given.get("multiscale", {})),
                    unet=replace(preset.model.unet, **given.get("unet", {})), **given.get("model", {}))
    diffusion = process.data_defaults(diffusion, train_x)
    process(diffusion)  # refuses settings the process cannot use (one ConfigError)
    return RunConfig(
        data=replace(preset.data, source=dataset.name, **given.get("data", {})),
        diffusion=diffusion,
        model=model,
        train=replace(preset.train, **given.get("train", {})),
    )


def kind_values(section: str, name: str) -> dict[DataKind, Any]:
    """The kinds whose preset differs from the vectors' default for field ``name`` of ``section``."""
    base = getattr(getattr(VECTORS, section), name)
    out = {}
    for kind, preset in PRESETS.items():
        value = getattr(getattr(preset, section), name)
        if kind is not DataKind.VECTORS and value != base:
            out[kind] = value
    return out


def section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Preset)]
