"""The one owner of coordinates: data <-> model, for continuous and for discrete data.

Three coordinate systems (see normalize.py): the data's own; z, each dimension z-scored (the
paper's, in which K is reported); and the model's, z or whitened z, where the diffusion runs.

Discrete data (``levels``: integers 0..levels-1, e.g. 8-bit images) are modelled as a density on
[0, levels)^D by dequantization, y = x + u with u ~ U[0, 1)^D (images.py gives the bound this
implies). So that round trip lives here too:
- into the model: ``dequantize`` (fresh U[0, 1) noise), then normalize;
- evidence about a known value v sits at the middle of its bin, v + 1/2 (``bin_centres``);
- back to the data: the floor of the continuous value (``to_data``), an exact sample of the
  discrete model that the dequantized one induces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .images import dequantize as _dequantize, check_levels
from .normalize import Normalization


@dataclass(frozen=True)
class Coordinates:
    normalization: Normalization
    levels: int | None = None  # discrete data: values 0..levels-1

    @property
    def discrete(self) -> bool:
        return self.levels is not None

    def check(self, x: np.ndarray, name: str) -> None:
        """DataError unless ``x`` holds values this model's data can take (discrete: its levels)."""
        if self.levels is not None:
            check_levels(np.asarray(x, dtype=np.float64), self.levels, name)

    def dequantize(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x + U[0, 1) for discrete data; continuous data unchanged."""
        return x if self.levels is None else _dequantize(x, self.levels, rng)

    def to_model(self, x: np.ndarray) -> np.ndarray:
        """Continuous data coordinates (dequantized already, if discrete) -> model coordinates."""
        return self.normalization.forward(x)

    def to_data(self, w: np.ndarray) -> np.ndarray:
        """Model coordinates -> data: continuous values, or for discrete data the integer levels
        (the floor, clipped to 0..levels-1; uint8 for up to 256 levels)."""
        x = self.normalization.inverse(w)
        return x if self.levels is None else self.floor(x)

    def floor(self, x: np.ndarray) -> np.ndarray:
        """Continuous values of the dequantized model -> its discrete levels."""
        return np.clip(np.floor(x), 0, self.levels - 1).astype(np.uint8 if self.levels <= 256 else np.int64)

    def bin_centres(self, v: np.ndarray) -> np.ndarray:
        """Where evidence about known discrete values sits in the continuous model: v + 1/2."""
        return v if self.levels is None else v + 0.5

    def dequantization_scale(self, example_shape: tuple[int, ...]) -> np.ndarray | None:
        """U[0, 1) noise in data units, expressed in model units (1/std per element); None if continuous."""
        if self.levels is None:
            return None
        return np.broadcast_to(1.0 / self.normalization.std, example_shape).copy()
