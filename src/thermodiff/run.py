"""A run directory: everything needed to continue, evaluate and sample a trained model.

    config.json             configuration, data source and fingerprint, normalization (JSON)
    heldout.npy             held-out examples, in the data's own coordinates
    checkpoint.safetensors  model, moving average, optimizer (see checkpoint.py)
    metrics.jsonl           training log: one JSON object per periodic evaluation
    evaluation.json         the final held-out evaluation
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import Checkpoint, CheckpointError, atomic_write_bytes, load_checkpoint, load_state
from .config import ConfigError, coerce_enums, from_dict, option, to_dict
from . import binomial_process
from .data import DataConfig, DataError, Dataset, Normalization, NormalizationKind, fingerprint, fit, is_binary, split
from .evaluate import EvalConfig
from .model import DiffusionModel
from .networks import MLPConfig, MultiScaleConfig, NetworkKind, make_network
from .data.images import dequantize
from .process import DiffusionConfig, ProcessKind, make_process
from .train_config import TrainConfig

RUN_FORMAT = "thermodiff-run"
RUN_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Which network, and its settings."""

    network: NetworkKind = option(NetworkKind.MLP, "network architecture (images get the multi-scale network)")
    mlp: MLPConfig = option(MLPConfig(), "MLP settings", cli=False)
    multiscale: MultiScaleConfig = option(MultiScaleConfig(), "multi-scale network settings", cli=False)

    def __post_init__(self) -> None:
        coerce_enums(self)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    diffusion: DiffusionConfig
    model: ModelConfig
    train: TrainConfig


def configure(dataset: Dataset, given: dict[str, dict[str, Any]]) -> RunConfig:
    """The run's configuration: the dataclass defaults, then the process's defaults where the user
    gave nothing, then what the user gave (``given[section][field]``). Binary data get binomial
    diffusion unless another process is named; binomial diffusion refuses data that are not 0/1."""
    diffusion = dict(given.get("diffusion", {}))
    data = dict(given.get("data", {}))
    model = dict(given.get("model", {}))
    train = dict(given.get("train", {}))
    binary = is_binary(dataset.x)
    kind = ProcessKind(diffusion.get("process", ProcessKind.BINOMIAL if binary else ProcessKind.GAUSSIAN))
    if kind is ProcessKind.BINOMIAL:
        if not binary:
            raise DataError(f"{dataset.name}: binomial diffusion needs data whose values are all 0 or 1")
        diffusion = {**binomial_process.DEFAULTS, **diffusion, "process": kind}
        train = {**binomial_process.TRAIN_DEFAULTS, **train}
        data["normalization"] = NormalizationKind.NONE
        if diffusion.get("pi") is None:
            data_config = DataConfig(source=dataset.name, **data)
            train_x, _ = split(dataset.x, data_config.heldout_fraction, data_config.data_seed)
            diffusion["pi"] = float(np.clip(train_x.mean(), 1e-3, 1 - 1e-3))
    if dataset.is_images:
        if data.get("normalization") is NormalizationKind.WHITEN:
            raise DataError("images are z-scored per pixel (--normalization zscore, the default for them); whitening is not offered")
        if kind is ProcessKind.GAUSSIAN:
            data.setdefault("normalization", NormalizationKind.ZSCORE)
        model.setdefault("network", NetworkKind.MULTISCALE)
        diffusion = {**IMAGE_DEFAULTS["diffusion"], **diffusion}
        train = {**IMAGE_DEFAULTS["train"], **train}
    return RunConfig(
        data=DataConfig(source=dataset.name, **data),
        diffusion=DiffusionConfig(**diffusion),
        model=ModelConfig(mlp=MLPConfig(**given.get("mlp", {})), multiscale=MultiScaleConfig(**given.get("multiscale", {})),
                          **model),
        train=TrainConfig(**train),
    )


# Settings that suit images (the paper used T = 1000 and small batches), used where the user gives none.
IMAGE_DEFAULTS = {
    "diffusion": {"T": 1000},
    "train": {"batch_size": 64, "lr": 1e-3, "eval_every": 1000, "eval_examples": 200, "checkpoint_every": 250},
    "eval": {"trajectories": 2, "t_samples": 50},  # 2000 held-out 16x16 images in minutes, still unbiased
}


def build_model(config: RunConfig, data_shape: tuple[int, ...]) -> DiffusionModel:
    process = make_process(config.diffusion)
    network = make_network(config.model.network, config.model.mlp, data_shape, process.out_channels, config.diffusion.T,
                           config.model.multiscale)
    return DiffusionModel(process, network)


class Run:
    """A run directory on disk and what it records."""

    def __init__(self, path: Path, config: RunConfig, normalization: Normalization, data_shape: tuple[int, ...],
                 data_fingerprint: str, n_examples: int, levels: int | None = None):
        self.path = Path(path)
        self.config = config
        self.normalization = normalization
        self.data_shape = data_shape
        self.data_fingerprint = data_fingerprint
        self.n_examples = n_examples
        self.levels = levels  # discrete data (images): values 0..levels-1, dequantized by U[0, 1)

    @property
    def is_images(self) -> bool:
        return len(self.data_shape) == 3

    # -- files ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def evaluation_path(self) -> Path:
        return self.path / "evaluation.json"

    def heldout(self) -> np.ndarray:
        return np.load(self.path / "heldout.npy", allow_pickle=False)

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.exists()

    def checkpoint(self) -> Checkpoint:
        return load_checkpoint(self.checkpoint_path)

    # -- creating and opening -------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig, dataset: Dataset) -> "Run":
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        train_x, heldout_x = split(dataset.x, config.data.heldout_fraction, config.data.data_seed)
        levels = dataset.levels if config.diffusion.process is ProcessKind.GAUSSIAN else None  # binary data stay 0/1
        if levels is not None:  # normalize what the model sees: dequantized values
            train_x = dequantize(train_x, levels, np.random.default_rng(config.data.data_seed))
        run = cls(path, config, fit(train_x, config.data.normalization), dataset.shape, fingerprint(dataset.x),
                  dataset.x.shape[0], levels)
        np.save(path / "heldout.npy", heldout_x)
        run.save_config()
        return run

    def save_config(self) -> None:
        record = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "config": {k: to_dict(getattr(self.config, k)) for k in ("data", "diffusion", "model", "train")},
            "data_shape": list(self.data_shape),
            "data_fingerprint": self.data_fingerprint,
            "n_examples": self.n_examples,
            "levels": self.levels,
            "normalization": self.normalization.to_json(),
        }
        atomic_write_bytes(self.path / "config.json", json.dumps(record, indent=2).encode())

    @classmethod
    def open(cls, path: Path) -> "Run":
        path = Path(path)
        config_path = path / "config.json"
        if not config_path.exists():
            raise ConfigError(f"{path} is not a thermodiff run (no config.json); train one with `thermodiff train`")
        try:
            record = json.loads(config_path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"{config_path} is not valid JSON ({err})") from None
        if record.get("format") != RUN_FORMAT:
            raise ConfigError(f"{config_path} is not a thermodiff run configuration")
        parts: dict[str, Any] = record["config"]
        config = RunConfig(
            data=from_dict(DataConfig, parts["data"], "data"),
            diffusion=from_dict(DiffusionConfig, parts["diffusion"], "diffusion"),
            model=from_dict(ModelConfig, parts["model"], "model"),
            train=from_dict(TrainConfig, parts["train"], "train"),
        )
        return cls(path, config, Normalization.from_json(record["normalization"]), tuple(record["data_shape"]),
                   record["data_fingerprint"], int(record["n_examples"]), record.get("levels"))

    def with_config(self, config: RunConfig) -> "Run":
        return Run(self.path, config, self.normalization, self.data_shape, self.data_fingerprint, self.n_examples, self.levels)

    def eval_config(self, given: dict[str, Any] | None = None) -> EvalConfig:
        """The bound estimator's settings: its defaults, those for images or binary data, then ``given``."""
        binary = self.config.diffusion.process is ProcessKind.BINOMIAL
        defaults = IMAGE_DEFAULTS["eval"] if self.is_images else binomial_process.EVAL_DEFAULTS if binary else {}
        return EvalConfig(**{**defaults, **(given or {})})

    # -- the model ------------------------------------------------------------------------
    def build_model(self) -> DiffusionModel:
        return build_model(self.config, self.data_shape)

    def load_model(self, ema: bool = True) -> DiffusionModel:
        """The trained model: the moving average of the weights by default (the one validation
        kept, if training held a validation split out), else the live weights."""
        if not self.has_checkpoint():
            raise CheckpointError(f"{self.path} has no checkpoint yet; train it first")
        model = self.build_model()
        state = self.checkpoint()
        weights = state.model if not ema else state.selected.weights if state.selected else state.ema
        load_state(model, weights, self.checkpoint_path)
        return model.eval()
