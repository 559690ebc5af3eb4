"""smc's log p(y) on the 4-D mixture's inpainting observations against the model's own log p(y).

The model's own value comes from benchmarks/posterior_model_check.py (exact-posterior draws
reweighted by p_model / p_true, p_model from the k = 64 importance-weighted bound): this script
reads its ``obs<i>.json`` for the observation, the exact log p(y) and that difference, and runs smc
(800 samples, as there) on the same run, for several M and seeds.

    OMP_NUM_THREADS=1 python benchmarks/smc_evidence.py --run runs/bench-mixture/run \\
        --check runs/model-check --observation 0 --particles 512 64 --seeds 1 2

Its figures, before and after the covariance floor of equations/particles.py, are in README
(the log p(y) paragraph under "Posteriors with two modes").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from thermodiff.conditioning import Method, PosteriorConfig
from thermodiff.run import Run


def measure(run: Run, check: dict, M: int, seed: int, n: int) -> dict:
    """smc's log p(y) for the check's observation, and its difference from the model's own."""
    x, known = np.array(check["x"]), np.array(check["known"])
    model = check["log_p_y_true"] + check["log_p_y_model_minus_true"]
    started = time.monotonic()
    report = run.inpaint_posterior(x[None], known[None],
                                   PosteriorConfig(method=Method.SMC, particles=M, n_samples=n, seed=seed)).report
    log_p_y = float(report.log_evidence[0])
    return {"observation": check["observation"], "M": M, "seed": seed, "log_p_y": log_p_y,
            "stderr": float(report.log_evidence_stderr[0]), "minus_model": log_p_y - model,
            "model_stderr": check["log_p_y_model_minus_true_stderr"], "final_ess": float(report.ess[0]),
            "systems": int(report.systems), "minutes": (time.monotonic() - started) / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="the trained 4-D mixture run")
    parser.add_argument("--check", type=Path, required=True, help="posterior_model_check.py's --out directory")
    parser.add_argument("--observation", type=int, default=0)
    parser.add_argument("--particles", type=int, nargs="+", default=[512, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--samples", type=int, default=800)
    args = parser.parse_args()
    run = Run.open(args.run)
    check = json.loads((args.check / f"obs{args.observation}.json").read_text())
    for M in args.particles:
        for seed in args.seeds:
            print(json.dumps(measure(run, check, M, seed, args.samples)), flush=True)


if __name__ == "__main__":
    main()
