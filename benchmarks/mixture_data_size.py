"""Inpainting on the 4-D mixture: how close to the exact posterior can a model trained on N examples be?

Inpainting conditions on exact values of some coordinates, so a model's posterior there can only
be as right as its training examples near those values. For each ``--runs RUN`` (trained on
``posterior_mixture.py``'s mixture, with any number of examples) and the first ``--observations``
inpainting observations of that benchmark (taken from the held-out split of ``--observations-from``,
rng seed 7, so that every run is scored on the same points), this prints the mode masses of:

- truth: the exact posterior's mode masses (200000 draws, each counted to its mode of largest
  responsibility, as the benchmark counts samples);
- data: the run's training examples near the known values, weighted by a Gaussian kernel of
  bandwidth h on the known coordinates and assigned to modes by the exact responsibilities of
  their unknown coordinates; beside it, the same kernel applied to 2,000,000 exact draws. The
  kernel's own smoothing bias is in both, so "data - smoothed truth" is how far the training
  sample itself is off near the observation (binomial standard error from the kernel's effective
  count of examples);
- model: the model's own posterior, with no sampler: ``--draws`` exact-posterior draws reweighted
  by p_model / p_true, log p_model the bound L_k (``posterior_model_check.py``'s estimator; its
  masses agree to 3 decimals for k = 1 and 64 on the default run), printed as the truth's masses
  plus the reweighting's shift on the same draws; its TV is that shift's (paired), with a
  bootstrap standard error, and the reweighting's effective sample size.

    python benchmarks/mixture_data_size.py --runs runs/bench-mixture/run runs/bench-mixture-200k/run \\
        --observations-from runs/bench-mixture/run      # README: five runs, two data sizes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import posterior_mixture as pm  # noqa: E402
import posterior_model_check as pmc  # noqa: E402

from thermodiff.run import Run  # noqa: E402

SMOOTHED_TRUTH_DRAWS = 2_000_000


def kernel_masses(x: np.ndarray, known: np.ndarray, exact: pm.Exact, examples: np.ndarray, h: float) -> tuple[np.ndarray, float]:
    """Mode masses of ``examples`` weighted by exp(-|e_known - x_known|^2 / 2h^2), and the effective count."""
    modes = exact.modes(np.where(known, x, examples), ~known)
    k = np.exp(-0.5 * ((examples[:, known] - x[known]) ** 2).sum(1) / h**2)
    return pmc.masses(modes, k / k.sum(), len(exact.w)), float(k.sum() ** 2 / (k**2).sum())


def mode_masses(known: np.ndarray, exact: pm.Exact, seed: int) -> np.ndarray:
    """The exact posterior's mode masses as the benchmark counts them (largest responsibility), 200000 draws."""
    draws = exact.draw(200_000, np.random.default_rng(seed))
    return pmc.masses(pmc.assign(exact, draws, known), np.full(len(draws), 1 / len(draws)), len(exact.w))


def model_masses(run: Run, known: np.ndarray, exact: pm.Exact, truth: np.ndarray, draws: int, k: int,
                 seed: int) -> tuple[np.ndarray, float, float, float]:
    """(the model's posterior mode masses as truth + the reweighting's paired shift, that shift's TV
    with its bootstrap stderr, the reweighting's ESS)."""
    x = pmc.proposal(exact, draws, seed=seed)
    modes = pmc.assign(exact, x, known)
    log_w = pmc.model_log_density(run, x, k, 12345 + seed)[f"L{k}"] - pmc.log_true_density(x)
    K = len(exact.w)
    shift = pmc.masses(modes, pmc.normalized(log_w), K) - pmc.masses(modes, np.full(len(modes), 1 / len(modes)), K)
    tv_stderr = pmc.bootstrap(modes, log_w, K, {})["tv_model_truth_paired_stderr"]
    return truth + shift, 0.5 * float(np.abs(shift).sum()), tv_stderr, pmc.ess(log_w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="runs trained on posterior_mixture.py's mixture")
    parser.add_argument("--observations-from", type=Path, required=True, help="the run whose held-out split gives the observations")
    parser.add_argument("--observations", type=int, default=6, help="inpainting observations (the benchmark's first ones)")
    parser.add_argument("--draws", type=int, default=1000, help="exact-posterior draws reweighted per observation")
    parser.add_argument("--importance-samples", type=int, default=1, help="k of the bound L_k used as log p_model")
    parser.add_argument("--bandwidths", nargs="*", type=float, default=[0.2, 0.3], help="kernel bandwidths h (data coordinates)")
    args = parser.parse_args()
    y, masks, exacts = pm.observations(Run.open(args.observations_from), "inpaint", args.observations, 2.0,
                                       np.random.default_rng(7))
    big = pm.generate(SMOOTHED_TRUTH_DRAWS, seed=123)
    f = lambda v: "/".join(f"{a:.3f}" for a in v)  # noqa: E731
    for path in args.runs:
        run, started, tvs = Run.open(path), time.monotonic(), []
        examples = np.asarray(run.load_splits().train, dtype=np.float64)
        print(f"\nrun {path}: {len(examples)} training examples")
        for i, (x, known, exact) in enumerate(zip(y, masks, exacts)):
            truth = mode_masses(known, exact, 99 + i)
            print(f"  observation {i} (known {np.flatnonzero(known).tolist()}): exact mode masses {f(truth)}")
            for h in args.bandwidths:
                data, n_eff = kernel_masses(x, known, exact, examples, h)
                smooth, _ = kernel_masses(x, known, exact, big, h)
                off = data - smooth
                stderr = np.sqrt(smooth * (1 - smooth) / n_eff)
                print(f"    h = {h:g}: training data {f(data)} (effective count {n_eff:.0f}), smoothed truth {f(smooth)}: "
                      f"data - smoothed truth {'/'.join(f'{a:+.3f}' for a in off)} (+- {f(stderr)}), TV {0.5 * np.abs(off).sum():.3f}")
            got, tv, tv_stderr, ess = model_masses(run, known, exact, truth, args.draws, args.importance_samples, 11 + i)
            tvs.append(tv)
            print(f"    model's own posterior {f(got)} (exact + the paired shift): TV from the truth {tv:.3f} +- "
                  f"{tv_stderr:.3f} ({args.draws} draws, reweighting ESS {ess:.0f})")
        print(f"  model's TV from the truth: mean {np.mean(tvs):.3f}, worst {np.max(tvs):.3f} "
              f"({(time.monotonic() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
