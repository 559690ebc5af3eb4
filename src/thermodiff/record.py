"""A run directory on disk: what it records, and how it is written and read back.

    config.json             settings, data source (as given and as an absolute path) and fingerprint,
                            kind of data, normalization, the values' spread, the run's digest (JSON)
    heldout.npy             held-out examples, in the data's own coordinates (8-bit images: uint8)
    baseline.npz            discrete data: the full-covariance Gaussian of the training images
    checkpoint.safetensors  model, moving average, optimizer (training/checkpoint.py), and
    checkpoint.prev.safetensors  the one before it, until the next is complete
    metrics.jsonl           training log: one JSON object per periodic evaluation
    evaluation.json         the final held-out evaluation
    train.lock              while a process trains the run: which (lock.py)

A run is self-contained: evaluate, sample, plot, inpaint and denoise read only these files, from
any working directory (``--parzen`` alone reads the training data again, found by its absolute
path). A new run is written into a temporary folder that takes the run's name when complete, so
a failed start leaves nothing behind. Runs written before ``kind``, ``baseline.npz``, ``data_std``
or the digest existed open as they are (their kind is read off the process and the data's shape;
what they lack is computed again from the data).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import from_dict, to_dict
from .data import Coordinates, Dataset, Examples, Normalization, Splits, fingerprint, load_dataset, make_splits, same_data
from .data.moments import fit_normalization
from .disk import atomic_save_chunks, atomic_write, atomic_write_bytes, remove_stale_temporaries
from .errors import CheckpointError, ConfigError, DataError
from .evaluation.baselines import GaussianFit, image_baseline_fit, image_baselines
from .evaluation.config import EvalConfig
from .evaluation.profile import profile_from_record
from .evaluation.report import strict_json
from .lock import RunLock
from .model import DiffusionModel
from .networks import NetworkKind, Readout, make_network
from .presets import DataKind, RunConfig, kind_of
from .processes import make_process, process_class
from .processes.continuous import DenoisingProfile
from .rundir import SECTIONS, DataFacts, check_new_directory, locate, located, new_directory, run_digest
from .training.checkpoint import Checkpoint, checkpoint_exists, load_state, read_checkpoint

RUN_FORMAT = "thermodiff-run"
RUN_VERSION = 1


def build_model(config: RunConfig, data_shape: tuple[int, ...]) -> DiffusionModel:
    process = make_process(config.diffusion)
    if not process.discrete_time and config.model.network is NetworkKind.MLP and config.model.mlp.readout is Readout.PER_STEP:
        raise ConfigError("a readout per step needs steps: the continuous-time process takes --readout bumps")
    network = make_network(config.model, data_shape, process.out_channels, config.diffusion.T)
    return DiffusionModel(process, network, config.model.precision)


class RunRecord:
    """What a run directory records (read-only apart from ``create``, ``save_config`` and the lock)."""

    def __init__(self, path: Path, config: RunConfig, coordinates: Coordinates, data_shape: tuple[int, ...],
                 data: DataFacts, kind: DataKind):
        self.path = Path(path)
        self.config = config
        self.coordinates = coordinates
        self.data_shape = tuple(data_shape)
        self.data = data
        self.kind = kind

    @classmethod
    def from_record(cls, record: "RunRecord"):
        return cls(record.path, record.config, record.coordinates, record.data_shape, record.data, record.kind)

    def with_config(self, config: RunConfig, data: DataFacts | None = None):
        return type(self)(self.path, config, self.coordinates, self.data_shape, data or self.data, self.kind)

    @property
    def is_images(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def levels(self) -> int | None:
        return self.coordinates.levels

    @property
    def normalization(self) -> Normalization:
        return self.coordinates.normalization

    @property
    def data_fingerprint(self) -> str:
        return self.data.fingerprint

    @property
    def n_examples(self) -> int:
        return self.data.n_examples

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

    @property
    def profile_path(self) -> Path:
        return self.path / "denoising_profile.json"

    def read_profile(self, weights: str) -> DenoisingProfile | None:
        """The stored denoising profile, if it was measured for these weights."""
        try:
            return profile_from_record(json.loads(self.profile_path.read_text()), weights)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_profile(self, record: dict[str, Any]) -> None:
        """Stores a profile beside the checkpoint; a run directory that cannot be written keeps none."""
        try:
            atomic_write_bytes(self.profile_path, strict_json(record).encode())
        except CheckpointError:  # what atomic writes raise for an OSError
            pass

    def heldout(self) -> np.ndarray:
        """The held-out examples as float64 (stored as the data are: 8-bit images as uint8)."""
        return np.load(self.path / "heldout.npy", allow_pickle=False).astype(np.float64)

    def has_checkpoint(self) -> bool:
        return checkpoint_exists(self.checkpoint_path)

    def checkpoint(self) -> Checkpoint:
        return read_checkpoint(self.checkpoint_path, self.data.digest)

    def write_evaluation(self, record: dict[str, Any]) -> None:
        atomic_write_bytes(self.evaluation_path, strict_json(record, indent=2).encode())

    def lock(self) -> RunLock:
        """``with run.lock():`` -- this process alone trains the run (lock.py)."""
        return RunLock(self.path)

    # -- creating and opening --------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig, dataset: Dataset, splits: Splits) -> "RunRecord":
        """A new run: every setting checked and every statistic fitted before anything is written;
        the normalization of the training split (dequantized, for discrete data that a continuous
        process models), the held-out split and the baseline, written into the run's directory
        at once (which must not exist, or be empty)."""
        path = Path(path)
        check_new_directory(path)
        build_model(config, dataset.shape)
        levels = dataset.levels if process_class(config.diffusion.process).continuous else None  # binary data stay 0/1
        normalization, std = fit_normalization(Examples.of(splits.train), config.data.normalization, levels,
                                               config.data.data_seed)
        data_fingerprint = fingerprint(dataset.x)
        facts = DataFacts(data_fingerprint, dataset.x.shape[0], std, *locate(config.data),
                          run_digest(config, dataset.shape, data_fingerprint, levels))
        kind = kind_of(not process_class(config.diffusion.process).continuous, dataset.is_images)
        record = cls(path, config, Coordinates(normalization, levels), dataset.shape, facts, kind)
        baseline = None if levels is None else image_baseline_fit(splits.train, levels, EvalConfig().eval_seed)
        heldout = Examples.of(splits.heldout)

        def write(folder: Path) -> None:
            atomic_save_chunks(folder / "heldout.npy", heldout.shape, heldout.dtype, heldout.chunks(heldout.dtype))
            if baseline is not None:
                atomic_write(folder / record.baseline_path.name, lambda tmp: _save_baseline(tmp, baseline))
            record.save_config(folder)

        new_directory(path, write)
        return record

    def save_config(self, folder: Path | None = None) -> None:
        """Write config.json (into ``folder`` instead of the run's directory while it is made)."""
        record = {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "config": {name: to_dict(getattr(self.config, name)) for name in SECTIONS},
            "kind": self.kind.value,
            "data_shape": list(self.data_shape),
            "data_fingerprint": self.data.fingerprint,
            "n_examples": self.data.n_examples,
            "levels": self.levels,
            "normalization": self.normalization.to_json(),
            "data": {"std": self.data.std, "source_path": self.data.source_path, "data_dir": self.data.data_dir},
            "run_digest": self.data.digest,
        }
        atomic_write_bytes((folder or self.path) / "config.json", json.dumps(record, indent=2).encode())

    @classmethod
    def open(cls, path: Path) -> "RunRecord":
        """The run in ``path``; temporaries left by processes that were killed mid-write are removed."""
        path = Path(path)
        record = _read_config(path)
        remove_stale_temporaries(path)
        try:
            config = RunConfig(**{name: from_dict(kind, record["config"][name], name) for name, kind in SECTIONS.items()})
            shape = tuple(int(v) for v in record["data_shape"])
            coordinates = Coordinates(Normalization.from_json(record["normalization"]), record.get("levels"))
            default_kind = kind_of(not process_class(config.diffusion.process).continuous, len(shape) == 3)
            kind = DataKind(record.get("kind", default_kind))
            data = record.get("data") or {}
            facts = DataFacts(str(record["data_fingerprint"]), int(record["n_examples"]), data.get("std"),
                              data.get("source_path"), data.get("data_dir"), record.get("run_digest"))
            return cls(path, config, coordinates, shape, facts, kind)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            if isinstance(err, ConfigError):
                raise ConfigError(f"{path / 'config.json'}: {err}") from None
            what = f"it lacks {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
            raise ConfigError(f"{path / 'config.json'} is not a thermodiff run configuration ({what})") from None

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

    def load_splits(self, source: str | None = None) -> Splits:
        """The run's examples, read again and split as at its start: from ``source`` if given (the
        same data by any path, or a copy), else from where the run found them (any working directory)."""
        config = self.config.data
        config = replace(config, source=source) if source is not None else located(config, self.data)
        dataset = load_dataset(config)
        if not same_data(dataset.x, self.data.fingerprint):
            if source is not None:
                raise DataError(f"{source} holds other data than {self.path} was trained on "
                                f"({self.config.data.source!r}: another fingerprint)")
            raise DataError(f"the data of {config.source} changed since this run started; start a new run")
        return make_splits(dataset.x, self.config.data)

    def data_std(self) -> float:
        """The spread of the training values (recorded at creation; runs written before: from the data)."""
        if self.data.std is not None:
            return float(self.data.std)
        return float(np.asarray(self.load_splits().train, dtype=np.float64).std())

    def image_baselines(self, x: np.ndarray, seed: int) -> dict[str, float]:
        """The full-covariance Gaussian's bits/dim on ``x`` (discrete data), fitted when the run was made."""
        if self.baseline_path.exists():
            with np.load(self.baseline_path, allow_pickle=False) as stored:
                fitted = GaussianFit(mean=stored["mean"], cov=stored["cov"])
        else:  # runs written before baseline.npz existed
            fitted = image_baseline_fit(self.load_splits().train, self.levels, EvalConfig().eval_seed)
        return image_baselines(fitted, x, self.levels, seed)


def _save_baseline(path: Path, fitted: GaussianFit) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, mean=fitted.mean, cov=fitted.cov)


def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / "config.json"
    if not config_path.exists():
        raise ConfigError(f"{path} is not a thermodiff run (no config.json); train one with `thermodiff train`")
    try:
        record = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path} is not valid JSON ({err})") from None
    except OSError as err:
        raise ConfigError(f"cannot read {config_path}: {err.strerror or err}") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise ConfigError(f"{config_path} is not a thermodiff run configuration")
    return record
