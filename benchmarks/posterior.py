"""Posterior-sampling benchmark: conditional samples against the exact conditional of Gaussian data.

Trains on the built-in 8-D correlated Gaussian (condition number 100, unequal variances) with
default settings and ``--time-limit`` (or reuses ``--run``), then, for held-out examples:
- inpainting: a random half of the coordinates known;
- denoising: y = x + N(0, noise_std^2) in data coordinates;
draws ``--samples`` posterior samples per example with each method, and compares them with the
exact Gaussian conditional: the largest error of the sample mean over the unknown coordinates,
in conditional standard deviations, and the relative Frobenius error of the sample covariance.
The same statistics of as many *exact* conditional samples give the Monte Carlo floor.

    python benchmarks/posterior.py --time-limit 5 --out runs/bench-posterior
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from thermodiff.conditioning import Method, PosteriorConfig, denoising, inpainting, sample_posterior
from thermodiff.data.toy import gaussian_parameters
from thermodiff.run import Run


def exact_inpainting(mean, cov, x, known):
    """Mean and covariance of x | x[known] (zero rows/columns at the known coordinates)."""
    k, u = known, ~known
    gain = cov[np.ix_(u, k)] @ np.linalg.inv(cov[np.ix_(k, k)])
    m = x.copy()
    m[u] = mean[u] + gain @ (x[k] - mean[k])
    c = np.zeros_like(cov)
    c[np.ix_(u, u)] = cov[np.ix_(u, u)] - gain @ cov[np.ix_(k, u)]
    return m, c


def exact_denoising(mean, cov, y, noise_std):
    """Mean and covariance of x | y = x + N(0, noise_std^2 I)."""
    precision = np.linalg.inv(cov) + np.eye(len(mean)) / noise_std**2
    c = np.linalg.inv(precision)
    return c @ (np.linalg.solve(cov, mean) + y / noise_std**2), c


def errors(samples, mean, cov):
    """(max |mean error| / sd over coordinates with sd > 0, relative Frobenius covariance error)."""
    sd = np.sqrt(np.diag(cov))
    free = sd > 1e-9
    mean_err = np.abs(samples.mean(0) - mean)[free] / sd[free]
    sample_cov = np.cov(samples[:, free].T)
    target = cov[np.ix_(free, free)]
    return float(mean_err.max()), float(np.linalg.norm(sample_cov - target) / np.linalg.norm(target))


def train(args) -> Path:
    if args.run is not None:
        return args.run
    run_dir = args.out / "gaussian"
    if not (run_dir / "checkpoint.safetensors").exists():
        subprocess.run([sys.executable, "-m", "thermodiff", "train", "gaussian", "--out", str(run_dir),
                        "--time-limit", str(args.time_limit)], check=True)
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-posterior"))
    parser.add_argument("--run", type=Path, default=None, help="reuse a run trained on the built-in `gaussian`")
    parser.add_argument("--examples", type=int, default=8, help="held-out examples per task")
    parser.add_argument("--samples", type=int, default=800, help="posterior samples per example")
    parser.add_argument("--noise-std", type=float, default=1.0)
    parser.add_argument("--methods", nargs="*", default=[m.value for m in Method])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run.open(train(args))
    if not run.config.data.source.startswith("gaussian"):
        sys.exit(f"{run.path} was not trained on the built-in gaussian")
    model = run.load_model()
    mean, cov = gaussian_parameters(8, 100.0, 1)
    rng = np.random.default_rng(7)
    x = run.heldout()[: args.examples]
    d = x.shape[1]
    known = np.zeros_like(x, dtype=bool)
    for row in known:
        row[rng.choice(d, d // 2, replace=False)] = True
    y = x + args.noise_std * rng.standard_normal(x.shape)
    tasks = {
        "inpaint (half known)": (inpainting(x, known, (d,)), [exact_inpainting(mean, cov, x[i], known[i]) for i in range(len(x))]),
        f"denoise (noise std {args.noise_std:g})": (denoising(y, args.noise_std, (d,)),
                                                    [exact_denoising(mean, cov, y[i], args.noise_std) for i in range(len(x))]),
    }
    rows = []
    for task, (evidence, exact) in tasks.items():
        floor = [errors(rng.multivariate_normal(m, c, size=args.samples, method="eigh"), m, c) for m, c in exact]
        rows.append({"task": task, "method": "exact samples (Monte Carlo floor)", "mean_err_max": max(f[0] for f in floor),
                     "cov_err_max": max(f[1] for f in floor), "mean_err_median": float(np.median([f[0] for f in floor])),
                     "cov_err_median": float(np.median([f[1] for f in floor])), "minutes": 0.0})
        for method in args.methods:
            started = time.monotonic()
            samples = sample_posterior(model, run.normalization, run.data_shape, run.config.diffusion.process, evidence,
                                       PosteriorConfig(method=Method(method), n_samples=args.samples, seed=1))
            errs = [errors(samples[:, i], m, c) for i, (m, c) in enumerate(exact)]
            if "inpaint" in task:
                assert np.array_equal(samples[:, known], np.broadcast_to(x[known], samples[:, known].shape))
            rows.append({"task": task, "method": method, "mean_err_max": max(e[0] for e in errs),
                         "cov_err_max": max(e[1] for e in errs), "mean_err_median": float(np.median([e[0] for e in errs])),
                         "cov_err_median": float(np.median([e[1] for e in errs])),
                         "minutes": (time.monotonic() - started) / 60})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(x)} held-out examples per task, {args.samples} posterior samples each; run {run.path}")
    print("| task | method | mean error, worst (median) | covariance error, worst (median) | minutes |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['method']} | {r['mean_err_max']:.3f} ({r['mean_err_median']:.3f}) sd "
              f"| {100 * r['cov_err_max']:.1f}% ({100 * r['cov_err_median']:.1f}%) | {r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
