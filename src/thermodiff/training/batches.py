"""The training examples as the loop draws them: a batch at a time, in model coordinates.

Continuous data (float64 already, and small: vectors) are moved to the device once, in model
coordinates. 8-bit images stay as they are stored (uint8, possibly a memory-mapped file larger
than memory): each batch's rows are read (``Examples``), converted to float64 and normalized, on
the CPU, and then moved; normalization is elementwise for images, so a batch is bit for bit what
it would be had the whole set been converted first.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data import Coordinates, Examples


class TrainingData:
    def __init__(self, examples: Examples, coordinates: Coordinates, device: torch.device):
        self.examples, self.coordinates, self.device = examples, coordinates, device
        self.example_shape = tuple(examples.shape[1:])
        self.resident: Tensor | None = None
        if examples.dtype != np.uint8:
            x = np.asarray(examples, dtype=np.float64)
            self.resident = torch.as_tensor(coordinates.to_model(x), dtype=torch.float64, device=device)

    def __len__(self) -> int:
        return len(self.examples)

    def batch(self, idx: Tensor) -> Tensor:
        """Float64 (B, ...) model coordinates of examples ``idx`` (not yet dequantized)."""
        if self.resident is not None:
            return self.resident.index_select(0, idx)  # as resident[idx], without advanced indexing
        rows = self.examples[idx.cpu().numpy()]
        x = self.coordinates.to_model(rows.astype(np.float64))
        return torch.as_tensor(x, dtype=torch.float64).to(self.device)
