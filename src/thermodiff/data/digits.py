"""scikit-learn's 8 x 8 handwritten digits: 1797 grey images with 17 levels (no download).

The UCI "Optical Recognition of Handwritten Digits" data (Alpaydin & Kaynak 1998) as shipped
inside scikit-learn (``sklearn.datasets.load_digits``): 32 x 32 bitmaps counted in 4 x 4 blocks,
so every pixel is an integer 0..16, i.e. LEVELS = 17 discrete levels (not 256). Pass them on
with ``images.as_images(load(), "digits", levels=LEVELS)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

LEVELS = 17


def load() -> np.ndarray:
    """uint8 (1797, 1, 8, 8) with values 0..16, in scikit-learn's order."""
    from sklearn.datasets import load_digits

    images = load_digits().images  # (1797, 8, 8) float64
    if (images != np.round(images)).any() or images.min() < 0 or images.max() >= LEVELS:
        raise DataError(f"scikit-learn's digits are expected to be integers 0..{LEVELS - 1}; this copy is not")
    return images.astype(np.uint8)[:, None]  # (N, 1, 8, 8)
