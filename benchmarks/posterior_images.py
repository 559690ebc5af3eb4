"""Posterior sampling on images: denoising PSNR and inpainting error against linear baselines.

For a trained image run (e.g. from benchmarks/images.py), takes held-out images and
- denoising at SNR 1 (noise std = the training pixels' std, the paper's Fig. 4): PSNR of the
  posterior mean (average of --samples draws) and of one draw, against the noisy input and the
  Wiener filter fitted on the training images (the best linear denoiser);
- inpainting of the central square (half the side; the paper's Fig. 5): RMSE on the hidden
  pixels of the posterior mean and of one draw, against the Gaussian conditional mean;
for each method: the paper's r_t = r; diffused, the default (denoising starts from the noisy
images as a diffused state; evidence is carried between pixels through the network's Jacobian,
one backward pass per step); diffused without that coupling; and smc with 4 particles per
system (started from noise; each sample costs about what a diffused chain costs, plus one
forward pass of the network per step for the twist).

    python benchmarks/posterior_images.py runs/bench-ct/deadleaves-discrete --images 12 --samples 16
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from thermodiff.conditioning import Method, PosteriorConfig
from thermodiff.evaluation.baselines import gaussian_inpaint, wiener_denoise
from thermodiff.restoration import psnr, restore
from thermodiff.run import Run


VARIANTS = {
    "paper": {"method": Method.PAPER},
    "diffused": {"method": Method.DIFFUSED},  # the default: coupled between pixels
    "diffused, uncoupled": {"method": Method.DIFFUSED, "coupling": False},
    "smc, M = 4": {"method": Method.SMC, "particles": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--methods", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--tasks", nargs="*", default=["denoise", "inpaint"], choices=["denoise", "inpaint"])
    args = parser.parse_args()
    run = Run.open(args.run)
    train = np.asarray(run.load_splits().train, dtype=np.float64)
    clean = run.heldout()[: args.images]
    peak = float(run.levels - 1) if run.levels else float(train.max())
    noise = run.data_std()  # SNR 1: noise as strong as the training pixels' spread (as thermodiff plot)

    def config(name: str) -> PosteriorConfig:
        return PosteriorConfig(n_samples=args.samples, **VARIANTS[name])

    rows = []
    for method in args.methods if "denoise" in args.tasks else []:
        started = time.monotonic()
        result = restore(run, clean, "denoise", config(method), np.random.default_rng(0), noise)
        if not rows:  # the baselines see the same noisy images as the methods (same seed)
            for name, est in (("noisy input", result.corrupted),
                              ("Wiener filter (fitted Gaussian)", wiener_denoise(train, result.corrupted, noise))):
                rows.append({"task": "denoise", "method": name, "mean": float(psnr(est, clean, peak).mean()), "one": None,
                             "minutes": 0.0})
        rows.append({"task": "denoise", "method": method, "mean": float(psnr(result.estimate, clean, peak).mean()),
                     "one": float(psnr(result.samples[0], clean, peak).mean()), "minutes": (time.monotonic() - started) / 60})
        print(json.dumps(rows[-1]), flush=True)
    for method in args.methods if "inpaint" in args.tasks else []:
        started = time.monotonic()
        result = restore(run, clean, "inpaint", config(method), np.random.default_rng(1))
        hidden = ~result.mask
        if not rows or rows[-1]["task"] != "inpaint":
            gauss = gaussian_inpaint(train, result.corrupted, result.mask)
            rows.append({"task": "inpaint", "method": "Gaussian conditional mean",
                         "mean": float(np.sqrt(((gauss - clean)[hidden] ** 2).mean())), "one": None, "minutes": 0.0})
        rows.append({"task": "inpaint", "method": method, "mean": float(np.sqrt(((result.estimate - clean)[hidden] ** 2).mean())),
                     "one": float(np.sqrt(((result.samples[0] - clean)[hidden] ** 2).mean())),
                     "minutes": (time.monotonic() - started) / 60})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.images} held-out images of {run.path}; {args.samples} posterior samples each; noise std {noise:.1f} (SNR 1)")
    print("| task | method | posterior mean | one sample | minutes |")
    print("|---|---|---|---|---|")
    for r in rows:
        unit = "dB PSNR" if r["task"] == "denoise" else "RMSE on the hidden pixels"
        one = "" if r["one"] is None else f"{r['one']:.2f}"
        print(f"| {r['task']} | {r['method']} | {r['mean']:.2f} {unit} | {one} | {r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
