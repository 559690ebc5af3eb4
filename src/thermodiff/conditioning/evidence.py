"""Evidence r(x_0) in the data's own coordinates, checked: known values, noisy observations, any log r."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import Tensor

from ..errors import DataError


@dataclass(frozen=True)
class Observations:
    """Gaussian evidence about each entry on its own: where ``informs``, x_0 = y + N(0, std^2)
    (std = 0: known exactly); elsewhere nothing. The form inpainting and denoising share."""

    informs: np.ndarray  # (N, *shape) bool
    y: np.ndarray  # (N, *shape); ignored where nothing is observed
    std: np.ndarray  # (N, *shape), >= 0


@dataclass(frozen=True)
class Inpainting:
    """Known values: r is a delta on the entries where ``mask`` is 1 (values elsewhere are ignored)."""

    observed: np.ndarray  # (N, *shape)
    mask: np.ndarray  # (N, *shape) bool

    def observations(self) -> Observations:
        return Observations(informs=self.mask, y=self.observed, std=np.zeros(self.observed.shape))

    def restore_known(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Samples ``x`` of the examples ``rows`` with the known values put back exactly (undoing rounding)."""
        return np.where(self.mask[rows], self.observed[rows], x)


@dataclass(frozen=True)
class Denoising:
    """Noisy observations y = x_0 + n, n ~ N(0, noise_std^2) independently per entry."""

    noisy: np.ndarray  # (N, *shape)
    noise_std: np.ndarray  # broadcasts against (N, *shape), > 0

    def observations(self) -> Observations:
        return Observations(informs=np.ones(self.noisy.shape, dtype=bool), y=self.noisy,
                            std=np.broadcast_to(self.noise_std, self.noisy.shape).copy())

    def restore_known(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return x  # no value is known exactly


@dataclass(frozen=True)
class Smooth:
    """Any evidence as a function: ``log_r`` maps a batch (B, *shape) in data coordinates
    (float64 tensor) to log r per example (B,), -inf where r = 0. ``n`` samples are drawn.

    Steps use the paper's first-order form, N(mu + Sigma grad log r, Sigma): good while r is
    smooth on the scale of each step's spread (Sigma times the curvature of -log r well below 1;
    beyond 2 the update overshoots). The smc method corrects those steps for any r, smooth or
    not (a box, a classifier's log-probability), at ``draws`` more evaluations of log r per
    particle and step. Gaussian evidence is better given as ``Inpainting`` or ``Denoising``,
    whose products are exact."""

    log_r: Callable[[Tensor], Tensor]
    n: int
    draws: int = 16  # smc: evaluations of log r per particle and step, for the twist E[r(x_0) | x_t]

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 1 or int(self.draws) != self.draws or self.draws < 1:
            raise DataError(f"Smooth evidence needs n >= 1 samples and draws >= 1, got n={self.n}, draws={self.draws}")

    def restore_known(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return x  # no value is known exactly


Evidence = Inpainting | Denoising | Smooth


def inpainting(observed: np.ndarray, mask: np.ndarray, data_shape: tuple[int, ...]) -> Inpainting:
    """Checked inpainting evidence: ``observed`` is one example or a batch; ``mask`` broadcasts to it."""
    observed = _as_batch(np.asarray(observed, dtype=np.float64), data_shape, "observations")
    try:
        mask = np.broadcast_to(np.asarray(mask), observed.shape)
    except ValueError:
        raise DataError(f"the mask of shape {np.shape(mask)} does not match the observations of shape "
                        f"{observed.shape}; give it the same shape, or one that broadcasts") from None
    if not np.isin(mask, (0, 1, True, False)).all():
        raise DataError("the mask must hold only 0 (unknown) and 1 (known)")
    mask = mask.astype(bool)
    flat = mask.reshape(mask.shape[0], -1)
    if not flat.any(axis=1).all():
        raise DataError("an example has no known values: nothing to condition on (use `thermodiff sample` instead)")
    if flat.all(axis=1).any():
        raise DataError("an example has every value known: there is nothing to fill in")
    if not np.isfinite(observed[mask]).all():
        raise DataError("known values must be finite")
    return Inpainting(observed=observed, mask=mask.copy())


def denoising(noisy: np.ndarray, noise_std: float | np.ndarray, data_shape: tuple[int, ...]) -> Denoising:
    """Checked denoising evidence; ``noise_std`` is in data coordinates and broadcasts to the data."""
    noisy = _as_batch(np.asarray(noisy, dtype=np.float64), data_shape, "noisy data")
    std = np.asarray(noise_std, dtype=np.float64)
    if not np.isfinite(noisy).all():
        raise DataError("the noisy data contain NaN or infinite values")
    if not (np.isfinite(std).all() and (std > 0).all()):
        raise DataError(f"the noise standard deviation must be positive and finite, got {noise_std}")
    try:
        std = np.broadcast_to(std, noisy.shape).copy()
    except ValueError:
        raise DataError(f"noise_std of shape {std.shape} does not broadcast to the data's shape {noisy.shape}") from None
    return Denoising(noisy=noisy, noise_std=std)


def _as_batch(x: np.ndarray, data_shape: tuple[int, ...], what: str) -> np.ndarray:
    if tuple(x.shape) == tuple(data_shape):
        return x[None]
    if tuple(x.shape[1:]) != tuple(data_shape):
        raise DataError(f"the {what} have shape {x.shape}; the model's examples have shape {data_shape}, "
                        f"so give ({', '.join(map(str, ('N', *data_shape)))}) or a single example")
    if x.shape[0] == 0:
        raise DataError(f"the {what} hold no examples")
    return x


