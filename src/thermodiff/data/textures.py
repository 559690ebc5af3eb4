"""Random patches of grey texture photographs shipped with scikit-image (no downloads).

Sohl-Dickstein et al. (2015, section 3.2.3 and Table 2) model patches of bark textures from
Lazebnik, Schmid & Ponce (2005), which we cannot ship. Instead the patches here come from the
512 x 512 8-bit grey texture photographs in ``skimage.data``: ``brick``, ``grass`` and ``gravel``
(the texture photographs installed with scikit-image 0.26, which has no ``rough_wall``).

To test on an unseen texture, train on some photographs and evaluate on another, e.g.
``generate(n, rng, image=("brick", "grass"))`` and ``generate(n, rng, image="gravel")``.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from ..errors import DataError

Texture = Literal["brick", "grass", "gravel"]
TEXTURES: tuple[str, ...] = get_args(Texture)
LEVELS = 256


def photograph(name: str, downscale: int = 1) -> np.ndarray:
    """uint8 (H, W): the named photograph, averaged over downscale x downscale blocks and rounded."""
    if name not in TEXTURES:
        raise DataError(f"unknown texture photograph {name!r}; the known ones are {', '.join(TEXTURES)}")
    if int(downscale) != downscale or downscale < 1:
        raise DataError(f"downscale must be a positive integer, got {downscale}")
    import skimage.data

    loaders = {"brick": skimage.data.brick, "grass": skimage.data.grass, "gravel": skimage.data.gravel}
    image = np.asarray(loaders[name](), dtype=np.float64)
    h, w = (s // downscale * downscale for s in image.shape)  # drop the rows/columns that fill no block
    blocks = image[:h, :w].reshape(h // downscale, downscale, w // downscale, downscale)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def patches(picture: np.ndarray, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (n, size, size): windows of ``picture`` at uniform positions (every position equally likely)."""
    h, w = picture.shape
    if size > min(h, w):
        raise DataError(f"patch size {size} exceeds the {h} x {w} photograph; lower size or downscale")
    top = rng.integers(h - size + 1, size=n)
    left = rng.integers(w - size + 1, size=n)
    offsets = np.arange(size)
    return picture[(top[:, None] + offsets)[:, :, None], (left[:, None] + offsets)[:, None, :]]  # (n, size, size)


def generate(n: int, rng: np.random.Generator, size: int = 16, image: str | tuple[str, ...] = "brick",
             downscale: int = 1) -> np.ndarray:
    """uint8 (n, 1, size, size): random patches of one photograph, or of several in equal shares.

    image: a name in TEXTURES or a tuple of them (each patch picks its photograph uniformly);
    downscale: block-average the photographs by this integer factor first (coarser texture).
    """
    names = (image,) if isinstance(image, str) else tuple(image)
    if not names:
        raise DataError(f"textures: name at least one photograph of {', '.join(TEXTURES)}")
    if n < 0 or size < 1:
        raise DataError(f"textures needs n >= 0 and size >= 1, got n={n}, size={size}")
    pictures = [photograph(name, downscale) for name in names]
    source = rng.integers(len(names), size=n)
    out = np.empty((n, size, size), dtype=np.uint8)
    for k, picture in enumerate(pictures):
        mine = np.flatnonzero(source == k)
        out[mine] = patches(picture, mine.size, size, rng)
    return out[:, None]  # (n, 1, size, size)
