"""log p(x) beyond one trajectory: K, the importance-weighted bound K_iw for k = 1..256, the truth, the
effective sample size, the probability-flow ODE's log-density, and what each costs.

Data sets with an exact log-probability (the Gaussian-diffusion sets of benchmarks/core.py and the
binary sets of benchmarks/binary.py, built the same way) and one image set (digits, no truth):
- heartbeat, heartbeat:length=30,period=6, bernmix16 (.npy): binomial diffusion, T = 2000;
- gaussian8, mixture2 (.npy), swissroll: Gaussian diffusion, T = 1000;
- digits (8x8, 17 grey levels): bits/dim of the dequantized data.
Each run is trained with `thermodiff train DATA --out OUT/NAME` (default settings, no time limit) unless
OUT/NAME already holds a trained run, which is reused (an unfinished one is resumed). The first
``--examples`` held-out examples are then scored through the Python API (what `thermodiff evaluate
--importance-samples K --ode` calls): K with its default estimator, K_iw with k trajectories per
example (the nested estimates k = 1, 2, 4, ... from the same draws), and for Gaussian runs log p_ODE.
``--timing`` also times `evaluate --importance-samples 64` on all 2000 held-out vectors of mixture2.

    python benchmarks/importance.py --out runs/bench-iw
prints one JSON line per set and markdown tables (bits per example, z-scored as K; images per pixel).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from binary import bernoulli_mixture
from core import gaussian8, mixture2
from thermodiff import Run
from thermodiff.data import known_density

NESTED = ("1", "4", "16", "64", "256")


class Timer:
    """Progress that records how long each part of an evaluation took (seconds)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.started = {}

    def start(self, what: str, total: float, unit: str) -> None:
        self.started[what] = time.monotonic()

    def advance(self, amount: float) -> None:
        pass

    def finish(self) -> None:
        for what, started in self.started.items():
            self.seconds.setdefault(what, time.monotonic() - started)


def data_sets(out: Path) -> dict[str, tuple[str, object]]:
    """name -> (training source, log-density in nats of data-coordinate examples, or None)."""
    sets = {}
    rng = np.random.default_rng(2024)  # as benchmarks/core.py draws them, in this order
    for name, make in (("gaussian8", gaussian8), ("mixture2", mixture2)):
        x, density = make(20000, rng)
        np.save(out / f"{name}.npy", x)
        sets[name] = (str(out / f"{name}.npy"), density)
    x, log_prob = bernoulli_mixture(20000, np.random.default_rng(5))  # as benchmarks/binary.py
    np.save(out / "bernmix16.npy", x)
    for name, source in (("swissroll", "swissroll"), ("heartbeat", "heartbeat"),
                         ("heartbeat30_6", "heartbeat:length=30,period=6")):
        sets[name] = (source, known_density(source)[0])
    sets["bernmix16"] = (str(out / "bernmix16.npy"), log_prob)
    sets["digits"] = ("digits", None)
    return sets


def trained(run_dir: Path, source: str) -> float:
    """Train (or finish training) with default settings unless done; the minutes it took (0 if reused)."""
    if (run_dir / "evaluation.json").exists():
        return 0.0
    resume = ["--resume"] if (run_dir / "config.json").exists() else []
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "thermodiff", "train", source, "--out", str(run_dir), *resume],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training {run_dir} failed:\n{done.stderr[-3000:]}")
    return (time.monotonic() - started) / 60


def bench(name: str, source: str, density, args) -> dict:
    run_dir = args.out / name
    train_minutes = trained(run_dir, source)
    run = Run.open(run_dir)
    gaussian = run.config.diffusion.process.value == "gaussian"
    k = args.image_k if run.is_images else args.k
    x = run.heldout()[: args.examples]
    timer = Timer()
    started = time.monotonic()
    record = run.evaluate(x, log_density=density, progress=timer, importance_samples=k, ode=gaussian).summary()
    total = time.monotonic() - started
    iw_seconds = sum(v for w, v in timer.seconds.items() if w.startswith("importance"))
    ode_seconds = sum(v for w, v in timer.seconds.items() if w.startswith("probability-flow"))
    keep = ("K", "stderr", "K_iw", "K_iw_stderr", "K_iw_minus_K", "K_iw_minus_K_stderr", "ess_mean", "ess_min",
            "ess_median", "ess_below_2", "iw_degenerate", "K_iw_last_gain", "K_iw_last_gain_stderr", "K_iw_still_rising",
            "K_iw_nested", "K_iw_nested_stderr", "true_log_likelihood", "gap",
            "gap_stderr", "gap_iw", "gap_iw_stderr", "log_p_ode", "log_p_ode_stderr", "gap_ode", "gap_ode_stderr",
            "ode_divergence", "ode_evaluations", "bits_per_dim", "bits_per_dim_iw", "bits_per_dim_ode", "units",
            "n_examples", "estimator", "trajectories")
    return {"name": name, "T": run.config.diffusion.T, "k": k, **{key: record[key] for key in keep if key in record},
            "K_minutes": (total - iw_seconds - ode_seconds) / 60, "iw_minutes": iw_seconds / 60,
            "ode_minutes": ode_seconds / 60, "train_minutes": train_minutes}


def timing(args) -> dict:
    """`thermodiff evaluate --importance-samples 64` on every held-out vector of mixture2, timed."""
    run_dir = args.out / "mixture2"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "thermodiff", "evaluate", str(run_dir), "--json",
                           "--importance-samples", "64"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"evaluating {run_dir} failed:\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout)
    return {"name": "mixture2 timing", "n_examples": record["n_examples"], "k": 64, "K_iw": record["K_iw"],
            "ess_mean": record["ess_mean"], "minutes": (time.monotonic() - started) / 60}


def fmt(value, se=None, digits=4):
    if value is None:
        return ""
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")


def tables(rows: list[dict]) -> None:
    print("\n| data | T | examples | K | K_iw (k) | truth | gap of K | gap of K_iw | K_iw - K (paired) | ESS mean (min) "
          "| log p_ODE | gap of ODE | minutes K / K_iw / ODE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        flag = " (degenerate)" if r["iw_degenerate"] else ""
        print(f"| {r['name']} | {r['T']} | {r['n_examples']} | {fmt(r['K'], r['stderr'])} | {fmt(r['K_iw'], r['K_iw_stderr'])} "
              f"({r['k']}){flag} | {fmt(r.get('true_log_likelihood'))} | {fmt(r.get('gap'), r.get('gap_stderr'))} "
              f"| {fmt(r.get('gap_iw'), r.get('gap_iw_stderr'))} | {fmt(r['K_iw_minus_K'], r['K_iw_minus_K_stderr'])} "
              f"| {r['ess_mean']:.1f} ({r['ess_min']:.1f}) | {fmt(r.get('log_p_ode'), r.get('log_p_ode_stderr'))} "
              f"| {fmt(r.get('gap_ode'), r.get('gap_ode_stderr'))} "
              f"| {r['K_minutes']:.1f} / {r['iw_minutes']:.1f} / {r['ode_minutes']:.1f} |")
    print("\n| data | " + " | ".join(f"K_iw, k = {j}" for j in NESTED) + " |")
    print("|---|" + "---|" * len(NESTED))
    for r in rows:
        cells = [fmt(r["K_iw_nested"].get(j), r["K_iw_nested_stderr"].get(j)) for j in NESTED]
        print(f"| {r['name']} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-iw"))
    parser.add_argument("--examples", type=int, default=200, help="held-out examples scored per set")
    parser.add_argument("--k", type=int, default=256, help="trajectories per example (vectors and sequences)")
    parser.add_argument("--image-k", type=int, default=16, help="trajectories per example for the image set")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--timing", action="store_true", help="also time 2000 vectors (mixture2) with k = 64")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (source, density) in data_sets(args.out).items():
        if args.only and name not in args.only:
            continue
        rows.append(bench(name, source, density, args))
        print(json.dumps(rows[-1]), flush=True)
    if rows:
        tables(rows)
    if args.timing:
        print(json.dumps(timing(args)), flush=True)


if __name__ == "__main__":
    main()
