"""Data: built-in generators and users' files, the held-out split, and the normalization.

Data knows nothing of models. ``load_dataset`` gives float64 examples in the data's own
coordinates and, for built-ins whose density is known, that log-density.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..config import coerce_enums, option
from .builtin import BUILTINS, resolve
from .files import check_vectors, read_array
from .normalize import DataError, Normalization, NormalizationKind, fit, fit_per_dimension


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
        "reported z-scored. Binary data are never normalized",
    )

    def __post_init__(self) -> None:
        coerce_enums(self)
        if not 0.0 < self.heldout_fraction < 1.0:
            raise DataError(f"heldout_fraction must lie in (0, 1), got {self.heldout_fraction}")


@dataclass(frozen=True)
class Dataset:
    """Examples (N, *shape) in the data's own coordinates."""

    name: str
    x: np.ndarray
    log_density: Callable[[np.ndarray], np.ndarray] | None = None  # ln p(x) per example, if known
    reference: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def load_dataset(config: DataConfig) -> Dataset:
    """The data set that ``config.source`` names: a built-in or a file."""
    found = resolve(config.source)
    if found is not None:
        builtin, params, n = found
        x = builtin.generate(n, np.random.default_rng(config.data_seed), **params)
        density = None
        if builtin.log_density is not None:
            density = lambda v, f=builtin.log_density, p=params: f(v, **p)  # noqa: E731
        return Dataset(name=config.source, x=x, log_density=density, reference=builtin.reference)
    return Dataset(name=config.source, x=load_file(config.source, config.npz_key))


def load_file(path: str, npz_key: str | None = None) -> np.ndarray:
    """A user's file, checked: float64 (examples, dimensions)."""
    if "." not in path.rsplit("/", 1)[-1]:
        raise DataError(f"{path!r} is neither a built-in data set ({', '.join(BUILTINS)}) nor a data file (.npy, .npz, .csv)")
    return check_vectors(read_array(path, npz_key), path)


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


__all__ = [
    "BUILTINS", "DataConfig", "DataError", "Dataset", "Normalization", "NormalizationKind",
    "fingerprint", "fit", "fit_per_dimension", "is_binary", "load_dataset", "load_file", "split",
]
