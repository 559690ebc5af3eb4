"""Gaussian-diffusion benchmark: how tight is the bound, with default settings and a time limit?

For each data set: train with the command line exactly as a user would (default settings,
``--time-limit``), evaluate the held-out split, and compare the bound with the exact
log-likelihood, on average and example by example. Data sets:
- swissroll: the built-in Swiss roll (its density is an integral over the curve);
- gaussian8: a correlated 8-D Gaussian with unequal variances (condition number 100), given as a
  user's .npy file;
- mixture2: a 2-D mixture of 6 well-separated Gaussians of unequal widths, as a .npy file.

    python benchmarks/core.py --time-limit 5 --out runs/bench
prints a table (bits per example; gap = true log-likelihood - K, positive means K is below the truth).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from common import train_and_score
from thermodiff.data import BUILTINS, swissroll, toy


def _log_mean_exp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).mean(axis=axis))


def gaussian8(n: int, rng: np.random.Generator):
    """A different Gaussian from the built-in one: its own rotation, scales and mean."""
    mean, cov = toy.gaussian_parameters(8, 100.0, structure_seed=7)
    scales = np.exp(rng.uniform(-1.0, 2.0, size=8))  # unequal variances in the data's own units
    cov = cov * np.outer(scales, scales)
    mean = mean * scales
    x = rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    chol = np.linalg.cholesky(cov)

    def log_density(v):
        white = np.linalg.solve(chol, (v - mean).T).T
        return -0.5 * ((white**2).sum(1) + 2 * np.log(np.diag(chol)).sum() + 8 * math.log(2 * math.pi))

    return x, log_density


def mixture2(n: int, rng: np.random.Generator):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0], [-4.0, 4.0], [-3.0, -5.0], [5.0, -6.0]])
    widths = np.array([0.3, 0.6, 0.4, 0.8, 0.5, 0.35])
    weights = np.array([0.25, 0.15, 0.2, 0.1, 0.15, 0.15])
    which = rng.choice(6, size=n, p=weights)
    x = centres[which] + widths[which, None] * rng.standard_normal((n, 2))

    def log_density(v):
        sq = ((v[:, None, :] - centres[None]) ** 2).sum(-1)
        comp = -sq / (2 * widths**2) - np.log(2 * math.pi * widths**2) + np.log(weights)
        return _log_mean_exp(comp, 1) + math.log(6)

    return x, log_density


def bench(name: str, source: str, log_density, out: Path, args) -> dict:
    trained, record, heldout, per, minutes = train_and_score(out / name, source, args.time_limit, args.trajectories, args.extra)
    truth_data = log_density(heldout) / math.log(2)  # bits, data coordinates
    diff = truth_data - per
    return {
        "name": name, "K": record["K"], "stderr": record["stderr"], "K_data": record["K_data"],
        "true_K_data": float(truth_data.mean()), "gap": float(diff.mean()),
        "gap_stderr": float(diff.std(ddof=1) / math.sqrt(diff.size)),
        "per_example_rms": float(np.sqrt((diff**2).mean())), "per_example_mc": record["mc_stderr_per_example"],
        "per_example_corr": float(np.corrcoef(truth_data, per)[0, 1]),
        "K_eq14": record["K_eq14"], "K_minus_L_null": record["K_minus_L_null"],
        "steps": trained["step"], "train_and_eval_minutes": minutes, "n_heldout": int(heldout.shape[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=5.0, help="training minutes per data set")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--trajectories", type=int, default=32, help="draws per example for the final evaluation")
    parser.add_argument("--only", nargs="*", default=None, help="a subset of: swissroll gaussian8 mixture2")
    parser.add_argument("extra", nargs="*", help="more `thermodiff train` options, after --")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    sets = {}
    noise = BUILTINS["swissroll"].params["noise"]
    sets["swissroll"] = ("swissroll", lambda v: swissroll.log_density(v, noise))
    for name, make in (("gaussian8", gaussian8), ("mixture2", mixture2)):
        x, density = make(20000, rng)
        np.save(args.out / f"{name}.npy", x)
        sets[name] = (str(args.out / f"{name}.npy"), density)
    rows = []
    for name, (source, density) in sets.items():
        if args.only and name not in args.only:
            continue
        if (args.out / name).exists():
            sys.exit(f"{args.out / name} exists; remove it or choose another --out")
        rows.append(bench(name, source, density, args.out, args))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| data | K (bits) | true | gap | per-example RMS error | per-example MC error | steps | minutes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['K']:.3f} ± {r['stderr']:.3f} | {r['K'] + r['gap']:.3f} | {r['gap']:.3f} ± {r['gap_stderr']:.3f} "
              f"| {r['per_example_rms']:.3f} | {r['per_example_mc']:.3f} | {r['steps']} | {r['train_and_eval_minutes']:.1f} |")


if __name__ == "__main__":
    main()
