"""Readers for two standard image sets in their distributed formats (nothing is downloaded here).

MNIST (LeCun, Bottou, Bengio & Haffner 1998): IDX files, optionally gzipped. An IDX file is a
big-endian header -- the magic number 0x00000803 (two zero bytes, type code 0x08 = unsigned
byte, 3 dimensions), then the three dimensions N, rows, columns as 32-bit integers -- followed
by N * rows * columns bytes in row-major order (http://yann.lecun.com/exdb/mnist/).

CIFAR-10 (Krizhevsky 2009), "python version": pickled dicts whose b"data" entry is a uint8
array (N, 3072), each row the 1024 red, then green, then blue values of a 32 x 32 image in
row-major order. Unpickling can run arbitrary code, so the batches are read by an unpickler that
builds only plain containers and numpy arrays and refuses every other global (``SafeUnpickler``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from ..errors import DataError

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = get_args(Split)

IDX_UBYTE_3D = 0x00000803
MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
MNIST_URL = "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

# ndarray.__reduce__ names numpy's array reconstructor, wherever this numpy version keeps it.
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickles written by numpy 1 (the CIFAR files)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickles written by numpy 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def _check_folder(data_dir: Path, instructions: str) -> None:
    if not data_dir.is_dir():
        raise DataError(f"no such folder: {data_dir}; create it and {instructions}")


def read_idx_images(path: str | Path) -> np.ndarray:
    """uint8 (N, rows, columns) from an IDX file of unsigned-byte images (gzipped if it ends in .gz)."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    magic = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if magic != IDX_UBYTE_3D:
        found = "it is too short" if magic is None else f"magic number 0x{magic:08x}"
        raise DataError(f"{path} is not an IDX file of 8-bit images: {found}, expected 0x{IDX_UBYTE_3D:08x} "
                        "(is it a label file?)")
    if len(data) < 16:
        raise DataError(f"{path}: the IDX header is cut short ({len(data)} bytes); the file is truncated")
    n, rows, cols = struct.unpack(">III", data[4:16])
    if len(data) != 16 + n * rows * cols:
        raise DataError(f"{path}: the header promises {n} x {rows} x {cols} bytes, "
                        f"the file holds {len(data) - 16}; it is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def load_mnist(data_dir: str | Path, split: str = "train") -> np.ndarray:
    """uint8 (N, 1, 28, 28): the MNIST images of ``split`` (60000 train, 10000 test).

    Looks in ``data_dir`` and in ``data_dir/MNIST/raw`` (torchvision's layout) for the file, plain or .gz.
    """
    _check_split(split)
    data_dir = Path(data_dir)
    _check_folder(data_dir, f"put {', '.join(MNIST_FILES.values())} (or .gz) in it, from {MNIST_URL}")
    name = MNIST_FILES[split]
    candidates = [folder / file for folder in (data_dir, data_dir / "MNIST" / "raw") for file in (name, name + ".gz")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise DataError(f"MNIST {split} images not found: put {name} (or {name}.gz) in {data_dir}. "
                        f"It is one of the four files at {MNIST_URL}")
    x = read_idx_images(found)
    if x.shape[1:] != (28, 28):
        raise DataError(f"{found}: MNIST images are 28 x 28, these are {x.shape[1]} x {x.shape[2]}")
    return x[:, None]  # (N, 1, 28, 28)


class SafeUnpickler(pickle.Unpickler):
    """Unpickles only built-in containers, numbers, strings, bytes and numpy arrays: every global except
    numpy's array reconstructor, ``numpy.ndarray`` and ``numpy.dtype`` is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}: only numpy arrays are allowed")


def read_cifar_batch(path: str | Path) -> np.ndarray:
    """uint8 (N, 3, 32, 32) from one CIFAR-10 python batch, read with ``SafeUnpickler``."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            batch = SafeUnpickler(handle, encoding="bytes").load()  # "bytes": the files were written by Python 2
    # a malformed or hostile pickle can fail in any of these ways; none of them runs foreign code
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError) as err:
        raise DataError(f"cannot read the CIFAR-10 batch {path}: {err}") from None
    data = batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path} is not a CIFAR-10 python batch: expected a dict whose b'data' is a uint8 "
                        "array (N, 3072)")
    return data.reshape(-1, 3, 32, 32)  # each row: 1024 R, 1024 G, 1024 B, each 32 x 32 row-major


def load_cifar10(data_dir: str | Path, split: str = "train") -> np.ndarray:
    """uint8 (N, 3, 32, 32): the CIFAR-10 images of ``split`` (50000 train in 5 batches, 10000 test).

    Looks for the batches in ``data_dir/cifar-10-batches-py`` and then directly in ``data_dir``.
    """
    _check_split(split)
    data_dir = Path(data_dir)
    _check_folder(data_dir, f"unpack {CIFAR_URL} in it (tar xzf), which makes {CIFAR_FOLDER}/ with "
                            f"{', '.join(CIFAR_FILES['train'] + CIFAR_FILES['test'])}")
    names = CIFAR_FILES[split]
    folder = next((f for f in (data_dir / CIFAR_FOLDER, data_dir) if all((f / n).is_file() for n in names)), None)
    if folder is None:
        raise DataError(f"CIFAR-10 {split} batches not found: put all of {', '.join(names)} in "
                        f"{data_dir / CIFAR_FOLDER} (or directly in {data_dir}). Unpack them from {CIFAR_URL} "
                        "with tar xzf")
    return np.concatenate([read_cifar_batch(folder / n) for n in names])
