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

from .conditioning import PosteriorConfig, denoising, inpainting, sample_posterior
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


def snr1_noise_std(train: np.ndarray) -> float:
    """Noise as strong as the signal (SNR 1, the paper's denoising figure): the pixels' standard deviation."""
    return float(train.std())


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


def gaussian_fit(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = train.reshape(train.shape[0], -1)
    return flat.mean(axis=0), np.cov(flat, rowvar=False)


def wiener_denoise(train: np.ndarray, noisy: np.ndarray, noise_std: float) -> np.ndarray:
    """mu + S (S + s^2 I)^{-1} (y - mu), with mu, S fitted to the training images."""
    mu, S = gaussian_fit(train)
    y = noisy.reshape(noisy.shape[0], -1)
    gain = np.linalg.solve(S + noise_std**2 * np.eye(S.shape[0]), S).T
    return (mu + (y - mu) @ gain.T).reshape(noisy.shape)


def gaussian_inpaint(train: np.ndarray, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The fitted Gaussian's conditional mean of the hidden values given the known ones."""
    mu, S = gaussian_fit(train)
    out = observed.reshape(observed.shape[0], -1).copy()
    for i, known in enumerate(mask.reshape(mask.shape[0], -1)):
        k, u = known, ~known
        out[i, u] = mu[u] + S[np.ix_(u, k)] @ np.linalg.solve(S[np.ix_(k, k)], out[i, k] - mu[k])
    return out.reshape(observed.shape)


def restore(run: Run, clean: np.ndarray, kind: str, config: PosteriorConfig, rng: np.random.Generator,
            noise_std: float | None = None) -> Restoration:
    """Corrupt ``clean`` (denoise: add Gaussian noise; inpaint: hide the central square) and draw
    posterior samples as ``config`` says (its seed is drawn from ``rng``). Discrete images are handled
    as ``thermodiff`` does: the evidence sits at the middle of each value's bin and samples are
    taken back to values by floor."""
    model = run.load_model()
    shift = 0.5 if run.levels is not None else 0.0
    config = replace(config, seed=int(rng.integers(2**31)))
    if kind == "denoise":
        corrupted = clean + noise_std * rng.standard_normal(clean.shape)
        evidence, mask = denoising(corrupted + shift, noise_std, run.data_shape), None
    elif kind == "inpaint":
        mask = np.broadcast_to(central_mask(run.data_shape), clean.shape)
        corrupted = np.where(mask, clean, 0.0)
        evidence = inpainting(corrupted + shift, mask, run.data_shape)
    else:
        raise ValueError(f"unknown restoration {kind!r}; choose denoise or inpaint")
    samples = sample_posterior(model, run.normalization, run.data_shape, run.config.diffusion.process, evidence, config)
    if run.levels is not None:
        samples = np.clip(np.floor(samples), 0, run.levels - 1)
    return Restoration(clean=clean, corrupted=corrupted, mask=mask, samples=samples, noise_std=noise_std)
