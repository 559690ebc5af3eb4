"""Data: built-in generators and users' files, the held-out split, and the normalization.

Data knows nothing of models. ``load_dataset`` gives float64 examples in the data's own
coordinates and, for built-ins whose density is known, that log-density.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import coerce_enums, option
from ..errors import ConfigError, DataError
from .builtin import BUILTINS, resolve
from .coordinates import Coordinates
from .files import check_examples, check_vectors, read_array
from .images import as_images, load_image_folder
from .normalize import Normalization, NormalizationKind, fit, fit_per_dimension
from .standard import load_cifar10, load_mnist


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are split."""

    source: str = option("swissroll", "built-in name (optionally name:key=value,...) or a .npy/.npz/.csv path", cli=False)
    npz_key: str | None = option(None, "which array of an .npz file holds the examples")
    heldout_fraction: float = option(0.1, "fraction of the examples held out for evaluation")
    data_seed: int = option(0, "seed of the built-in generators and of the held-out split")
    normalization: NormalizationKind = option(
        NormalizationKind.WHITEN,
        "zscore: each dimension to unit variance (the paper's); whiten: then decorrelate (ZCA); K is always "
        "reported z-scored. Binary data are never normalized; images are z-scored",
    )
    data_dir: str | None = option(None, "folder holding the files of mnist or cifar10")
    image_size: int = option(32, "side in pixels that images read from a folder are cropped and resized to")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError(f"heldout_fraction must lie in (0, 1), got {self.heldout_fraction}")
        if self.image_size < 1:
            raise ConfigError(f"image_size must be at least 1, got {self.image_size}")


@dataclass(frozen=True)
class Dataset:
    """Examples (N, *shape) in the data's own coordinates."""

    name: str
    x: np.ndarray
    log_density: Callable[[np.ndarray], np.ndarray] | None = None  # ln p(x) per example, if known
    reference: dict[str, Any] = field(default_factory=dict)
    levels: int | None = None  # discrete values 0..levels-1 (8-bit images: 256), dequantized for training

    @property
    def is_images(self) -> bool:
        return self.x.ndim == 4

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


STANDARD = {"mnist": load_mnist, "cifar10": load_cifar10}  # standard image sets read from --data-dir


def known_density(source: str) -> tuple[Callable[[np.ndarray], np.ndarray] | None, dict[str, Any]]:
    """(ln p(x) per example, published reference figures) of a built-in source; (None, {}) otherwise.
    Nothing is generated: the density is a formula."""
    found = resolve(source)
    if found is None:
        return None, {}
    builtin, params, _ = found
    if builtin.log_density is None:
        return None, builtin.reference
    return (lambda v, f=builtin.log_density, p=params: f(v, **p)), builtin.reference


def load_dataset(config: DataConfig) -> Dataset:
    """The data set that ``config.source`` names: a built-in, a standard set, a folder of images or a file."""
    found = resolve(config.source)
    if found is not None:
        builtin, params, n = found
        x = builtin.generate(n, np.random.default_rng(config.data_seed), **params)
        if builtin.levels is not None:
            x, _ = as_images(x, config.source, builtin.levels)
        density, reference = known_density(config.source)
        return Dataset(name=config.source, x=x, log_density=density, reference=reference, levels=builtin.levels)
    if config.source in STANDARD:
        if config.data_dir is None:
            raise DataError(f"{config.source} is read from its standard files: give the folder with --data-dir DIR")
        x, levels = as_images(STANDARD[config.source](config.data_dir, "train"), config.source)
        return Dataset(name=config.source, x=x, levels=levels)
    x, levels = load_file(config.source, config.npz_key, config.image_size)
    return Dataset(name=config.source, x=x, levels=levels)


def load_file(path: str, npz_key: str | None = None, image_size: int = 32) -> tuple[np.ndarray, int | None]:
    """A user's data, checked: (float64 array, levels). A folder of PNG/JPEG images, or a file:
    (examples, dimensions) vectors, or images (N, H, W) / (N, C, H, W) (uint8: 8-bit, 256 levels)."""
    if Path(path).is_dir():
        return as_images(load_image_folder(path, image_size), path)
    if "." not in path.rsplit("/", 1)[-1]:
        raise DataError(f"{path!r} is neither a built-in data set ({', '.join([*BUILTINS, *STANDARD])}), a folder "
                        "of images, nor a data file (.npy, .npz, .csv)")
    x = read_array(path, npz_key)
    if x.ndim in (3, 4):
        return as_images(x, path)
    if x.ndim > 4:
        raise DataError(f"{path}: expected shape (examples, dimensions), or images (N, H, W) or (N, C, H, W); got {x.shape}")
    return check_vectors(x, path), None


def is_binary(x: np.ndarray) -> bool:
    """Every value is 0 or 1."""
    return bool(np.isin(x, (0.0, 1.0)).all())


def fingerprint(x: np.ndarray) -> str:
    """A short content hash, to notice when a file changed under a run."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


def split(x: np.ndarray, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, heldout) by a seeded permutation; at least one example on each side."""
    n = x.shape[0]
    if n < 2:
        raise DataError(f"need at least 2 examples to hold some out, got {n}")
    n_held = min(max(1, int(round(n * heldout_fraction))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return x[order[n_held:]], x[order[:n_held]]


@dataclass(frozen=True)
class Splits:
    """The examples of a run, in the data's own coordinates: what training sees (it may set some of
    them aside to choose its weights) and what only evaluation sees."""

    train: np.ndarray
    heldout: np.ndarray


def make_splits(x: np.ndarray, config: DataConfig) -> Splits:
    """The held-out split, by a permutation seeded with ``data_seed``."""
    train, heldout = split(x, config.heldout_fraction, config.data_seed)
    return Splits(train=train, heldout=heldout)


__all__ = [
    "BUILTINS", "Coordinates", "DataConfig", "check_examples", "DataError", "Dataset", "Normalization", "NormalizationKind", "Splits",
    "fingerprint", "fit", "fit_per_dimension", "is_binary", "known_density", "load_dataset", "load_file",
    "make_splits", "split",
]
