"""Restoring images with a trained model: corrupt held-out images, sample the posterior, score it.

Used by ``thermodiff plot --kind denoise|inpaint`` (the paper's Figs. 4-5: true, corrupted,
restored) and by ``benchmarks/posterior_images.py``. Baselines fitted to the training images:
the Wiener filter (the best linear denoiser: the posterior mean under a full-covariance Gaussian)
and the Gaussian conditional mean for inpainting. Values are in the data's own units (grey
levels for 8-bit images).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .conditioning import PosteriorConfig
from .run import Run


@dataclass(frozen=True)
class Restoration:
    clean: np.ndarray  # (N, C, H, W)
    corrupted: np.ndarray  # noisy images, or the images with the hidden region blanked
    mask: np.ndarray | None  # inpainting: True where known
    samples: np.ndarray  # (n_samples, N, C, H, W) posterior samples
    noise_std: float | None = None

    @property
    def estimate(self) -> np.ndarray:
        """The posterior mean estimated by the samples' average (the MMSE estimate)."""
        return self.samples.mean(axis=0)


def central_mask(shape: tuple[int, ...], hidden: float = 0.5) -> np.ndarray:
    """True where known: all but a central square of side ``hidden`` times the image side."""
    mask = np.ones(shape, dtype=bool)
    h, w = shape[-2:]
    sh, sw = max(1, int(round(h * hidden))), max(1, int(round(w * hidden)))
    top, left = (h - sh) // 2, (w - sw) // 2
    mask[..., top:top + sh, left:left + sw] = False
    return mask


def psnr(estimate: np.ndarray, clean: np.ndarray, peak: float) -> np.ndarray:
    """Peak signal-to-noise ratio per image, in dB."""
    mse = ((estimate - clean) ** 2).reshape(clean.shape[0], -1).mean(axis=1)
    return 10.0 * np.log10(peak**2 / np.maximum(mse, 1e-12))


def restore(run: Run, clean: np.ndarray, kind: str, config: PosteriorConfig, rng: np.random.Generator,
            noise_std: float | None = None) -> Restoration:
    """Corrupt ``clean`` (denoise: add Gaussian noise; inpaint: hide the central square) and draw
    posterior samples as ``config`` says (its seed is drawn from ``rng``), as ``thermodiff
    denoise|inpaint`` would (discrete images: the evidence at the middle of each level's bin,
    samples back to levels)."""
    config = replace(config, seed=int(rng.integers(2**31)))
    if kind == "denoise":
        corrupted, mask = clean + noise_std * rng.standard_normal(clean.shape), None
        samples = run.denoise(corrupted, noise_std, config)
    elif kind == "inpaint":
        mask = np.broadcast_to(central_mask(run.data_shape), clean.shape)
        corrupted = np.where(mask, clean, 0.0)
        samples = run.inpaint(corrupted, mask, config)
    else:
        raise ValueError(f"unknown restoration {kind!r}; choose denoise or inpaint")
    samples = samples.astype(np.float64).reshape(-1, *clean.shape)
    return Restoration(clean=clean, corrupted=corrupted, mask=mask, samples=samples, noise_std=noise_std)
