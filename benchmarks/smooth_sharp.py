"""smc with evidence given as a function (``Smooth(log_r, n)``), against the exact log p(y), as r sharpens.

The model is the Gaussian oracle of the tests (tests/test_posterior.py's 4-D independent Gaussian
data, the optimal reverse kernel), so p(x_0) is the linear-Gaussian marginal, known exactly. r is a
Gaussian of sd ``s`` on coordinates 0 and 2 (data coordinates; tests/test_smc.py's
``sharp_gaussian_evidence``), given as a function, so smc takes
the Smooth path: its step tilted by log r_t's gradient, its twist r_t averaged over 16 fixed points
of x_0 | x_t. Exact: log E_p[r] = 2 log(sqrt(2 pi) s) + log N(y; m, S + s^2 I) on those coordinates.
For each s it prints smc's log p(y) minus the exact value, the reported standard error (16 systems
of 16 particles) and how many of the systems carry it (``systems_ess``), for the step as it is
(secant: shortened by the curvature of log r_t along its ray) and for the paper's first-order step.

    python benchmarks/smooth_sharp.py --T 100 --sd 0.5 0.1 0.05
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_posterior import D  # noqa: E402
from test_smc import sharp_gaussian_evidence  # noqa: E402
from thermodiff.conditioning import PosteriorConfig, Smooth, posterior, smooth  # noqa: E402
from thermodiff.data.normalize import identity  # noqa: E402
from thermodiff.equations.products import first_order_tilt  # noqa: E402
from thermodiff.processes import ProcessKind  # noqa: E402


def error(T: int, sd: float, seed: int) -> tuple[float, float, float]:
    """(smc's log p(y) - exact, its reported standard error, nats; how many of the 16 systems carry it)."""
    model, log_r, exact = sharp_gaussian_evidence(T, sd)
    config = PosteriorConfig(method="smc", particles=16, n_samples=256, seed=seed, dense_max=0)
    report = posterior(model, identity((D,)), (D,), ProcessKind.GAUSSIAN, Smooth(log_r, 256), config).report
    return float(report.log_evidence[0] - exact), float(report.log_evidence_stderr[0]), float(report.systems_ess[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--sd", nargs="*", type=float, default=[0.5, 0.1, 0.05])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    secant = smooth.secant_tilt
    print(f"T = {args.T}; log p(y) error, nats (reported standard error), systems carrying it (of 16)")
    print("| sd of r | secant step | first-order step |\n|---|---|---|")
    for sd in args.sd:
        cells = []
        for step in (secant, lambda mean, var, g0, g1: first_order_tilt(mean, var, g0)):
            smooth.secant_tilt = step
            cells.append("{:+.3g} ({:.2g}), {:.1f}".format(*error(args.T, sd, args.seed)))
        smooth.secant_tilt = secant
        print(f"| {sd:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
