"""Users' data files: .npy, .npz (one array, or a named key) and .csv, as (examples, dimensions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

SUFFIXES = (".npy", ".npz", ".csv")


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if key is None:
            if len(keys) != 1:
                raise DataError(f"{path} holds {len(keys)} arrays {keys}; say which with --npz-key")
            key = keys[0]
        if key not in keys:
            raise DataError(f"{path} has no array {key!r}; it holds {keys}")
        return archive[key]


def _load_csv(path: Path) -> np.ndarray:
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    if not lines:
        raise DataError(f"{path} is empty")
    first = lines[0].split(",")
    try:
        [float(v) for v in first]
        start = 0
    except ValueError:
        start = 1  # a header row
    try:
        rows = [[float(v) for v in line.split(",")] for line in lines[start:]]
    except ValueError as err:
        raise DataError(f"{path}: every value after the header must be a number ({err})") from None
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns {sorted(widths)}")
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def read_array(path: str | Path, npz_key: str | None = None, mmap: bool = False) -> np.ndarray:
    """The array in ``path``, as stored (no pickles are ever loaded); ``mmap``: a .npy file is
    memory-mapped (read when used, so it may be larger than memory)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        if suffix == ".npz":
            return _load_npz(path, npz_key)
        if suffix == ".csv":
            return _load_csv(path)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


def check_vectors(x: np.ndarray, where: str) -> np.ndarray:
    """x as float64 (examples, dimensions); one clear error for anything else."""
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers, got an array of dtype {x.dtype}")
    if x.ndim != 2:
        hint = " (for one-dimensional data, reshape to (N, 1))" if x.ndim == 1 else ""
        raise DataError(f"{where}: expected shape (examples, dimensions), got {x.shape}{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{where}: the data are empty (shape {x.shape})")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(f"{where}: {int(bad.sum())} NaN or infinite values, in rows {rows[:10].tolist()}{'...' if rows.size > 10 else ''}")
    return x


def check_examples(x: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """x as float64 (N, *shape), N >= 1, all finite (a single example of ``shape`` gains N = 1);
    one clear error for anything else."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers, got an array of dtype {x.dtype}")
    if tuple(x.shape) == tuple(shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(shape):
        raise DataError(f"{where} have examples of shape {tuple(x.shape[1:])}; the model's examples have shape "
                        f"{tuple(shape)}")
    if x.shape[0] == 0:
        raise DataError(f"{where} hold no examples")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{where} contain {int((~np.isfinite(x)).sum())} NaN or infinite values")
    return x
