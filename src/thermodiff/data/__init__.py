"""Data: built-in generators and users' files, the held-out split, and the normalization.

Data knows nothing of models. ``load_dataset`` gives the examples in the data's own coordinates
(float64; 8-bit images stay uint8, and a .npy file of them stays memory-mapped: examples.py) and,
for built-ins whose density is known, that log-density. How an array is read is inferred from
its rank and dtype and can be said instead (``DataConfig.kind``, ``DataConfig.levels``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import coerce_enums, option
from ..errors import ConfigError, DataError
from .builtin import BUILTINS, resolve
from .coordinates import Coordinates
from .examples import Examples, fingerprint, is_binary, same_data, split, split_index
from .files import check_examples, check_vectors, read_array
from .images import as_images, load_image_folder
from .normalize import Normalization, NormalizationKind, fit, fit_per_dimension
from .standard import load_cifar10, load_mnist


class Layout(str, Enum):
    """How an array's examples are read: vectors (each example flattened) or images (N, C, H, W)."""

    VECTORS = "vectors"
    IMAGES = "images"


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
    kind: Layout | None = option(None, "how to read the array: vectors (each example flattened) or images (N, H, W) "
                                       "/ (N, C, H, W); default: rank 2 is vectors, rank 3 and 4 are images")
    levels: int | None = option(None, "images: the values are integers 0..LEVELS-1, discrete data that are dequantized "
                                      "and scored in bits/dim (default: 256 for uint8 data, otherwise continuous)")

    def __post_init__(self) -> None:
        coerce_enums(self)
        if self.levels is not None and self.levels < 2:
            raise ConfigError(f"levels must be at least 2, got {self.levels}")
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
    stored: tuple[tuple[int, ...], str] | None = None  # the array's shape and dtype as read, before its layout

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
        if config.levels is not None and config.levels != builtin.levels:
            raise ConfigError(f"{config.source} has {builtin.levels or 'continuous'} levels; --levels cannot change that")
        x, levels = read_layout(x, config.source, config.kind, builtin.levels)
        density, reference = known_density(config.source)
        return Dataset(name=config.source, x=x, log_density=density, reference=reference, levels=levels)
    if config.source in STANDARD:
        if config.data_dir is None:
            raise DataError(f"{config.source} is read from its standard files: give the folder with --data-dir DIR")
        x, levels = read_layout(STANDARD[config.source](config.data_dir, "train"), config.source, config.kind,
                                config.levels)
        return Dataset(name=config.source, x=x, levels=levels)
    x = read_source(config.source, config.npz_key, config.image_size)
    stored = (tuple(x.shape), str(x.dtype))
    x, levels = read_layout(x, config.source, config.kind, config.levels)
    return Dataset(name=config.source, x=x, levels=levels, stored=stored)


def resolve_path(source: str) -> str | None:
    """The absolute path of a file or folder source (None for a built-in or a standard set)."""
    if resolve(source) is not None or source in STANDARD or not Path(source).exists():
        return None
    return str(Path(source).resolve())


def read_source(path: str, npz_key: str | None = None, image_size: int = 32) -> np.ndarray:
    """The array of a folder of PNG/JPEG images or of a file (a .npy file memory-mapped), as stored."""
    if Path(path).is_dir():
        return load_image_folder(path, image_size)
    if "." not in path.rsplit("/", 1)[-1]:
        raise DataError(f"{path!r} is neither a built-in data set ({', '.join([*BUILTINS, *STANDARD])}), a folder "
                        "of images, nor a data file (.npy, .npz, .csv)")
    return read_array(path, npz_key, mmap=True)


def load_file(path: str, npz_key: str | None = None, image_size: int = 32, kind: Layout | None = None,
              levels: int | None = None) -> tuple[np.ndarray, int | None]:
    """A user's data, checked: (examples, levels). A folder of PNG/JPEG images, or a file:
    (examples, dimensions) vectors, or images (N, H, W) / (N, C, H, W) (uint8: 8-bit, 256 levels);
    ``kind`` and ``levels`` say how to read it instead of inferring it."""
    return read_layout(read_source(path, npz_key, image_size), path, kind, levels)


def read_layout(x: np.ndarray, name: str, kind: Layout | None, levels: int | None) -> tuple[np.ndarray, int | None]:
    """(examples, levels): rank 2 and ``kind`` vectors give float64 vectors (flattened), rank 3-4 and
    ``kind`` images give images (8-bit ones stay uint8)."""
    kind = None if kind is None else Layout(kind)
    if kind is Layout.IMAGES or (kind is None and x.ndim in (3, 4)):
        if x.ndim == 2:
            raise DataError(f"{name}: --kind images needs images of shape (N, H, W) or (N, C, H, W), got {x.shape}")
        return as_images(x, name, levels, keep_bytes=True)
    if levels is not None:
        raise ConfigError(f"--levels applies to images; {name} is read as vectors")
    if x.ndim > 4:
        raise DataError(f"{name}: expected shape (examples, dimensions), or images (N, H, W) or (N, C, H, W); got {x.shape}")
    if kind is Layout.VECTORS and x.ndim > 2:
        x = np.asarray(x).reshape(x.shape[0], -1)
    return check_vectors(np.asarray(x), name), None


@dataclass(frozen=True)
class Splits:
    """The examples of a run, in the data's own coordinates: what training sees (it may set some of
    them aside to choose its weights) and what only evaluation sees."""

    train: Examples
    heldout: Examples


def make_splits(x: np.ndarray, config: DataConfig) -> Splits:
    """The held-out split, by a permutation seeded with ``data_seed`` (rows of ``x``, not copies)."""
    train, heldout = split(Examples.of(x), config.heldout_fraction, config.data_seed)
    return Splits(train=train, heldout=heldout)


__all__ = [
    "BUILTINS", "Coordinates", "DataConfig", "check_examples", "DataError", "Dataset", "Examples", "Layout",
    "Normalization", "NormalizationKind", "Splits", "fingerprint", "fit", "fit_per_dimension", "is_binary",
    "known_density", "load_dataset", "load_file", "make_splits", "resolve_path", "same_data", "split", "split_index",
]
