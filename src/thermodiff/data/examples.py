"""Examples picked from an array by an index: splits that copy nothing, read a chunk at a time.

A ``.npy`` file is memory-mapped, so its array may be larger than memory; 8-bit images stay 8-bit
until a batch or a chunk of them is read (1 byte a value instead of float64's 8). ``Examples``
holds row indices into such an array; the held-out split, the training split and the validation
split are all ``Examples`` of the one array. Rows of a memory-mapped file are read with ``pread``
(``FileRows``), not through the mapping: a page fault maps the pages around the faulting one too,
so random rows read through the mapping would make most of a big file resident in this process.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import DataError

CHUNK_BYTES = 64 * 2**20  # float64 bytes per chunk of a pass over the data


def chunk_rows(example_shape: tuple[int, ...], itemsize: int = 8) -> int:
    """Rows per chunk: CHUNK_BYTES of values of ``itemsize`` bytes."""
    return max(1, CHUNK_BYTES // (itemsize * max(1, int(np.prod(example_shape)))))


@dataclass(frozen=True)
class FileRows:
    """Where the rows of a memory-mapped array lie in its file."""

    path: str
    offset: int  # bytes of the file before row 0
    row_bytes: int

    @classmethod
    def of(cls, x: np.ndarray) -> "FileRows | None":
        """Where ``x``'s rows are, if it is a C-contiguous view of a memory-mapped file (else None)."""
        root = x
        while isinstance(root.base, np.ndarray):  # views of a memmap are memmaps too: find the mapping's own
            root = root.base
        if not isinstance(root, np.memmap) or root.filename is None or not x.flags.c_contiguous:
            return None
        start = x.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        return cls(str(root.filename), int(root.offset) + start, x.itemsize * int(np.prod(x.shape[1:])))

    def read(self, rows: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Rows ``rows`` (in that order) as an array (len(rows), *shape) of ``dtype``."""
        out = np.empty((rows.size, *shape), dtype)
        flat = out.reshape(rows.size, -1).view(np.uint8)
        consecutive = rows.size > 1 and bool((np.diff(rows) == 1).all())
        reads = [(rows[0], flat.reshape(-1))] if consecutive else zip(rows.tolist(), flat)  # one read a run
        with open(self.path, "rb", buffering=0) as handle:
            for row, buffer in reads:
                if os.preadv(handle.fileno(), [buffer], self.offset + int(row) * self.row_bytes) != buffer.size:
                    raise DataError(f"{self.path} is shorter than its header says (row {row})")
        return out


@dataclass(frozen=True)
class Examples:
    """Rows ``index`` of ``source`` (N, ...), as stored (possibly memory-mapped, possibly uint8)."""

    source: np.ndarray
    index: np.ndarray  # int64 rows of source, in this split's order

    @classmethod
    def of(cls, x: np.ndarray) -> "Examples":
        return x if isinstance(x, Examples) else cls(x, np.arange(x.shape[0]))

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.source.shape[1:])

    @property
    def ndim(self) -> int:
        return self.source.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    def __getitem__(self, key) -> np.ndarray:
        """Rows read into memory as stored (an integer gives one example)."""
        rows = self.index[key]
        where = FileRows.of(self.source)
        if where is None:
            return np.array(self.source[rows]) if np.ndim(rows) else np.array(self.source[int(rows)])
        out = where.read(np.atleast_1d(rows), self.source.shape[1:], self.source.dtype)
        return out if np.ndim(rows) else out[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def subset(self, rows: np.ndarray) -> "Examples":
        return Examples(self.source, self.index[rows])

    def chunks(self, dtype=np.float64) -> Iterator[np.ndarray]:
        """The examples in order, a chunk of CHUNK_BYTES at a time, as ``dtype``."""
        step = chunk_rows(self.shape[1:], np.dtype(dtype).itemsize)
        for start in range(0, len(self), step):
            yield self[start:start + step].astype(dtype, copy=False)

    def mean(self) -> float:
        """The mean of every value."""
        return float(sum(chunk.sum() for chunk in self.chunks()) / max(1, len(self) * int(np.prod(self.shape[1:]))))


def is_binary(x: np.ndarray) -> bool:
    """Every value is 0 or 1."""
    return all(bool(np.isin(chunk, (0, 1)).all()) for chunk in Examples.of(x).chunks(x.dtype))


def fingerprint(x: np.ndarray) -> str:
    """A short content hash of the values as stored, to notice when a file changed under a run."""
    digest = hashlib.sha256()
    for chunk in Examples.of(x).chunks(x.dtype):
        digest.update(np.ascontiguousarray(chunk).tobytes())
    return digest.hexdigest()[:16]


def legacy_fingerprint(x: np.ndarray) -> str:
    """The hash that runs written before data kept their dtype recorded: of the float64 values."""
    digest = hashlib.sha256()
    for chunk in Examples.of(x).chunks():
        digest.update(np.ascontiguousarray(chunk).tobytes())
    return digest.hexdigest()[:16]


def same_data(x: np.ndarray, recorded: str) -> bool:
    """Whether ``x`` is the data whose fingerprint a run recorded (in either of its forms)."""
    return fingerprint(x) == recorded or (x.dtype != np.float64 and legacy_fingerprint(x) == recorded)


def split_index(n: int, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) by a seeded permutation; at least one row on each side."""
    if n < 2:
        raise DataError(f"need at least 2 examples to hold some out, got {n}")
    n_held = min(max(1, int(round(n * heldout_fraction))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return order[n_held:], order[:n_held]


def split(x, heldout_fraction: float, seed: int):
    """(train, heldout) by a seeded permutation: arrays of an array, ``Examples`` of ``Examples``."""
    train, held = split_index(len(x), heldout_fraction, seed)
    if isinstance(x, Examples):
        return x.subset(train), x.subset(held)
    return x[train], x[held]
