"""A run directory on disk: what it records, and how it is written and read back.

    config.json             settings, data source and fingerprint, kind of data, normalization (JSON)
    heldout.npy             held-out examples, in the data's own coordinates
    baseline.npz            discrete data: the full-covariance Gaussian of the training images
    checkpoint.safetensors  model, moving average, optimizer (training/checkpoint.py)
    metrics.jsonl           training log: one JSON object per periodic evaluation
    evaluation.json         the final held-out evaluation

Runs written before ``kind`` and ``baseline.npz`` existed open as they are (their kind is
read off the process and the data's shape; their baseline is fitted again from the data).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .config import from_dict, to_dict
from .data import Coordinates, DataConfig, Dataset, Normalization, Splits, fingerprint, fit, load_dataset, make_splits
from .data.images import dequantize
from .errors import CheckpointError, ConfigError, DataError
from .evaluation.baselines import GaussianFit, image_baseline_fit, image_baselines
from .evaluation.config import EvalConfig
from .model import DiffusionModel
from .networks import ModelConfig, NetworkKind, Readout, make_network
from .presets import DataKind, RunConfig, kind_of
from .processes import DiffusionConfig, make_process, process_class
from .training.checkpoint import Checkpoint, atomic_write_bytes, load_checkpoint, load_state
from .training.config import TrainConfig

RUN_FORMAT = "thermodiff-run"
RUN_VERSION = 1
SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "model": ModelConfig, "train": TrainConfig}


def build_model(config: RunConfig, data_shape: tuple[int, ...]) -> DiffusionModel:
    process = make_process(config.diffusion)
    if not process.discrete_time and config.model.network is NetworkKind.MLP and config.model.mlp.readout is Readout.PER_STEP:
        raise ConfigError("a readout per step needs steps: the continuous-time process takes --readout bumps")
    network = make_network(config.model, data_shape, process.out_channels, config.diffusion.T)
    return DiffusionModel(process, network, config.model.precision)


class RunRecord:
    """What a run directory records (read-only apart from ``create`` and ``save_config``)."""

    def __init__(self, path: Path, config: RunConfig, coordinates: Coordinates, data_shape: tuple[int, ...],
                 data_fingerprint: str, n_examples: int, kind: DataKind):
        self.path = Path(path)
        self.config = config
        self.coordinates = coordinates
        self.data_shape = tuple(data_shape)
        self.data_fingerprint = data_fingerprint
        self.n_examples = n_examples
        self.kind = kind

    @classmethod
    def from_record(cls, record: "RunRecord"):
        return cls(record.path, record.config, record.coordinates, record.data_shape, record.data_fingerprint,
                   record.n_examples, record.kind)

    def with_config(self, config: RunConfig):
        return type(self)(self.path, config, self.coordinates, self.data_shape, self.data_fingerprint, self.n_examples,
                          self.kind)

    @property
    def is_images(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def levels(self) -> int | None:
        return self.coordinates.levels

    @property
    def normalization(self) -> Normalization:
        return self.coordinates.normalization

    # -- files ---------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def evaluation_path(self) -> Path:
        return self.path / "evaluation.json"

    @property
    def baseline_path(self) -> Path:
        return self.path / "baseline.npz"

    def heldout(self) -> np.ndarray:
        return np.load(self.path / "heldout.npy", allow_pickle=False)

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.exists()

    def checkpoint(self) -> Checkpoint:
        return load_checkpoint(self.checkpoint_path)

    def write_evaluation(self, record: dict[str, Any]) -> None:
        atomic_write_bytes(self.evaluation_path, json.dumps(record, indent=2).encode())

    # -- creating and opening --------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig, dataset: Dataset, splits: Splits) -> "RunRecord":
        """Write a new run's record: the normalization fitted to the training split (dequantized,
        for discrete data that a continuous process models), the held-out split, the baseline."""
        path = Path(path)
        build_model(config, dataset.shape)  # every setting checked before anything is written
        path.mkdir(parents=True, exist_ok=True)
        levels = dataset.levels if process_class(config.diffusion.process).continuous else None  # binary data stay 0/1
        train_x = splits.train if levels is None else dequantize(splits.train, levels, np.random.default_rng(config.data.data_seed))
        coordinates = Coordinates(fit(train_x, config.data.normalization), levels)
        kind = kind_of(not process_class(config.diffusion.process).continuous, dataset.is_images)
        record = cls(path, config, coordinates, dataset.shape, fingerprint(dataset.x), dataset.x.shape[0], kind)
        np.save(path / "heldout.npy", splits.heldout)
        if levels is not None:
            fitted = image_baseline_fit(splits.train, levels, EvalConfig().eval_seed)
            np.savez(record.baseline_path, mean=fitted.mean, cov=fitted.cov)
        record.save_config()
        return record

    def save_config(self) -> None:
        record = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "config": {name: to_dict(getattr(self.config, name)) for name in SECTIONS},
            "kind": self.kind.value,
            "data_shape": list(self.data_shape),
            "data_fingerprint": self.data_fingerprint,
            "n_examples": self.n_examples,
            "levels": self.levels,
            "normalization": self.normalization.to_json(),
        }
        atomic_write_bytes(self.path / "config.json", json.dumps(record, indent=2).encode())

    @classmethod
    def open(cls, path: Path) -> "RunRecord":
        record = _read_config(Path(path))
        try:
            config = RunConfig(**{name: from_dict(kind, record["config"][name], name) for name, kind in SECTIONS.items()})
            shape = tuple(int(v) for v in record["data_shape"])
            coordinates = Coordinates(Normalization.from_json(record["normalization"]), record.get("levels"))
            default_kind = kind_of(not process_class(config.diffusion.process).continuous, len(shape) == 3)
            kind = DataKind(record.get("kind", default_kind))
            return cls(path, config, coordinates, shape, str(record["data_fingerprint"]), int(record["n_examples"]), kind)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise ConfigError(f"{path / 'config.json'}: {err}") from None
            raise ConfigError(f"{path / 'config.json'} is not a thermodiff run configuration "
                              f"({type(err).__name__}: {err})") from None

    # -- the model and the data -------------------------------------------------------------------
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

    def load_splits(self) -> Splits:
        """The run's examples, read again from its source and split as at its start."""
        dataset = load_dataset(self.config.data)
        if fingerprint(dataset.x) != self.data_fingerprint:
            raise DataError(f"the data of {self.config.data.source} changed since this run started; start a new run")
        return make_splits(dataset.x, self.config.data)

    def image_baselines(self, x: np.ndarray, seed: int) -> dict[str, float]:
        """The full-covariance Gaussian's bits/dim on ``x`` (discrete data), fitted when the run was made."""
        if self.baseline_path.exists():
            with np.load(self.baseline_path, allow_pickle=False) as stored:
                fitted = GaussianFit(mean=stored["mean"], cov=stored["cov"])
        else:  # runs written before baseline.npz existed
            fitted = image_baseline_fit(self.load_splits().train, self.levels, EvalConfig().eval_seed)
        return image_baselines(fitted, x, self.levels, seed)


def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / "config.json"
    if not config_path.exists():
        raise ConfigError(f"{path} is not a thermodiff run (no config.json); train one with `thermodiff train`")
    try:
        record = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path} is not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise ConfigError(f"{config_path} is not a thermodiff run configuration")
    return record
