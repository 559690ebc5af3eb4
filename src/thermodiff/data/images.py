"""Image arrays: one layout, the discrete-to-continuous step, folders of pictures, sample grids.

Layout. Images are always channels-first, (N, C, H, W) with C = 1 (grey) or C = 3 (RGB); a
rank-3 array (N, H, W) is grey and gains C = 1. Channels-last input (N, H, W, C) is never
transposed implicitly, because (N, 3, 3, 3) or (N, 1, 4, 1) cannot be told apart from their
shape; it is refused with a hint (``x.transpose(0, 3, 1, 2)``).

Levels. A uint8 array holds 8-bit images: ``levels`` = 256 values 0..255. Other integer data
with a known number of levels (scikit-learn's digits: 17) say so with ``levels=``. Any other
array is real-valued (``levels`` None) and is modelled as it is.

Dequantization (Uria, Murray & Larochelle 2013; Theis, van den Oord & Bethge 2016, section 3.1).
A discrete image x in {0, ..., levels-1}^D becomes y = x + u, u ~ U[0, 1)^D: a continuous
density p on [0, levels)^D gives the discrete model P(x) = int_{[0,1)^D} p(x + u) du, and by
Jensen's inequality log P(x) >= E_u[log p(x + u)]. Hence
    -log2 P(x) <= E_u[-log2 p(x + u)]   (in expectation over u),
so the continuous model's bits/dim on dequantized data, in units of one level, bound the bits/dim
of the discrete data. Data rescaled to y / levels in [0, 1) have log2 p_[0,1) = log2 p + D log2(levels),
i.e. subtract log2(levels) bits/dim to return to units of one level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CHANNELS = (1, 3)
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def as_images(x: np.ndarray, name: str, levels: int | None = None,
              keep_bytes: bool = False) -> tuple[np.ndarray, int | None]:
    """(float64 (N, C, H, W), levels): x checked and brought to the one layout (see module doc).

    ``levels`` None: 256 for uint8, else real-valued (None). Given: x must hold integers in [0, levels).
    ``keep_bytes``: uint8 data stay uint8 (a view of ``x``, memory-mapped if it is), checked a chunk at a time.
    """
    x = x if isinstance(x, np.ndarray) else np.asarray(x)  # a memory-mapped array stays mapped
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name}: expected numbers, got an array of dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.ndim != 4:
        raise DataError(f"{name}: expected images of shape (N, H, W) or (N, C, H, W), got {x.shape}")
    if x.shape[1] not in CHANNELS:
        hint = " (channels-last? use x.transpose(0, 3, 1, 2))" if x.shape[3] in CHANNELS else ""
        raise DataError(f"{name}: images are channels-first (N, C, H, W) with C in {CHANNELS}, got {x.shape}{hint}")
    if min(x.shape) == 0:
        raise DataError(f"{name}: the images are empty (shape {x.shape})")
    if levels is None and x.dtype == np.uint8:
        levels = 256
    if keep_bytes and x.dtype == np.uint8 and levels is not None and levels <= 256:
        if levels < 256:
            for start in range(0, x.shape[0], 2**16):
                check_levels(x[start:start + 2**16], levels, name)
        return x, levels
    out = x.astype(np.float64)
    if not np.isfinite(out).all():
        raise DataError(f"{name}: {int((~np.isfinite(out)).sum())} NaN or infinite values")
    if levels is not None:
        check_levels(out, levels, name)
    return out, levels


def check_levels(x: np.ndarray, levels: int, name: str) -> None:
    if levels < 2:
        raise DataError(f"{name}: levels must be at least 2, got {levels}")
    if (x.dtype.kind == "f" and (x != np.round(x)).any()) or x.min() < 0 or x.max() > levels - 1:
        raise DataError(f"{name}: with {levels} levels every value must be an integer in 0..{levels - 1}, "
                        f"got values in [{x.min():g}, {x.max():g}]")


def dequantize(x: np.ndarray, levels: int, rng: np.random.Generator) -> np.ndarray:
    """y = x + u, u ~ U[0, 1) elementwise: discrete levels -> a point of [0, levels)^D (see module doc)."""
    x = np.asarray(x, dtype=np.float64)
    check_levels(x, levels, "dequantize")
    return x + rng.random(x.shape)


def _open(path: Path):
    """The picture in ``path``, fully decoded and upright; DataError naming the file if it is unreadable."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read the image {path}: {err}") from None


def _is_grey(image) -> bool:
    """Single-band, or RGB with R = G = B everywhere."""
    if image.mode in GREY_MODES:
        return True
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _square(image, image_size: int, rng: np.random.Generator | None):
    """The largest square (centred, or at a uniform position if rng is given) resized to image_size."""
    from PIL import Image

    w, h = image.size
    side = min(w, h)
    if rng is None:
        left, top = (w - side) // 2, (h - side) // 2
    else:
        left, top = int(rng.integers(w - side + 1)), int(rng.integers(h - side + 1))
    box = (left, top, left + side, top + side)
    return image.resize((image_size, image_size), resample=Image.Resampling.LANCZOS, box=box)


def read_image(path: str | Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One PNG/JPEG picture as float64 (C, H, W) of exactly ``shape`` (grey or RGB as C says)."""
    channels, height, width = shape
    picture = _open(Path(path))
    array = np.asarray(picture.convert("L" if channels == 1 else "RGB"), dtype=np.float64)
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if array.shape != tuple(shape):
        raise DataError(f"{path} is {array.shape[2]}x{array.shape[1]} pixels; the run's images are {width}x{height}")
    return array


def image_files(path: str | Path) -> list[Path]:
    """The PNG and JPEG files directly in folder ``path`` (not in subfolders), sorted by name."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"no such folder: {path}")
    entries = sorted(path.iterdir())
    if not entries:
        raise DataError(f"the folder {path} is empty; put PNG or JPEG images ({', '.join(IMAGE_SUFFIXES)}) in it")
    files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"the folder {path} holds no images: none of its {len(entries)} entries ends in "
                        f"{', '.join(IMAGE_SUFFIXES)} (subfolders are not searched)")
    return files


def load_image_folder(path: str | Path, image_size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """uint8 (N, C, H = W = image_size): every PNG/JPEG file directly in ``path`` (sorted by name).

    C = 1 if every picture is grey (see ``_is_grey``), else 3 (grey pictures are repeated to RGB).
    Each picture's largest square is cut out, at the centre (rng None) or at a uniform position
    (rng given), then resized with PIL's Lanczos filter.
    """
    if int(image_size) != image_size or image_size < 1:
        raise DataError(f"image_size must be a positive integer, got {image_size}")
    pictures = [_open(p) for p in image_files(path)]
    mode = "L" if all(_is_grey(p) for p in pictures) else "RGB"
    squares = [np.asarray(_square(p.convert(mode), int(image_size), rng)) for p in pictures]
    x = np.stack(squares).astype(np.uint8)
    return x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)  # (N, H, W[, 3]) -> (N, C, H, W)


def make_grid(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """uint8 (H', W') for grey or (H', W', 3) for RGB: images in rows of ``ncol``, ``pad`` white pixels apart.

    ``images``: uint8, or floats in [0, 1] (clipped, then rounded to 0..255); (N, H, W) or (N, C, H, W).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise DataError(f"make_grid: expected uint8 or floats in [0, 1], got dtype {images.dtype}")
    if ncol < 1 or pad < 0:
        raise DataError(f"make_grid: need ncol >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    x, _ = as_images(images, "make_grid")
    if images.dtype.kind == "f":
        x = np.round(np.clip(x, 0.0, 1.0) * 255.0)
    n, c, h, w = x.shape
    nrow = -(-n // ncol)
    grid = np.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), 255, dtype=np.uint8)
    for i in range(n):
        top, left = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)  # (C, H', W') -> (H', W'[, 3])


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write uint8 (H, W) or (H, W, 3) as a PNG file; returns the path."""
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise DataError(f"save_png: expected uint8 (H, W) or (H, W, 3), got {array.dtype} {array.shape}")
    path = Path(path)
    Image.fromarray(array).save(path, format="PNG")
    return path
