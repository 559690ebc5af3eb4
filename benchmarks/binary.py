"""Binomial-diffusion benchmark: the bound against the exact log-probability of binary data.

Trains with the command line as a user would (default settings, ``--time-limit``) and scores
the held-out split. Data sets:
- heartbeat (length 20, period 5): the paper's; truth log2(1/5) = -2.322 bits per sequence;
- heartbeat:length=30,period=6 (truth -log2 6 = -2.585), to show the defaults carry over;
- bernmix16: a mixture of 4 product-Bernoulli components over 16 bits, as a user's .npy file
  (not one of ours), whose exact log-probability is a sum over the components.
The held-out score uses binary runs' default estimator (every step summed); compare the gaps with
the floor that benchmarks/binary_floor.py prints (the optimal factorized kernel's).

    python benchmarks/binary.py --time-limit 10 --out runs/bench-binary
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from common import train_and_score
from thermodiff.data import load_dataset
from thermodiff.data import DataConfig


def bernmix16_parameters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(weights (4,), rates (4, 16)) of bernmix16: 4 product-Bernoulli components over 16 bits."""
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    return weights, np.clip(rng.beta(0.4, 0.4, size=(4, 16)), 0.02, 0.98)


def bernoulli_mixture(n: int, rng: np.random.Generator):
    """n draws of bernmix16 and its exact log-probability (nats), a sum over the components."""
    weights, theta = bernmix16_parameters(rng)
    which = rng.choice(4, size=n, p=weights)
    x = (rng.random((n, 16)) < theta[which]).astype(np.float64)

    def log_prob(v):
        comp = (v[:, None, :] * np.log(theta) + (1 - v[:, None, :]) * np.log1p(-theta)).sum(-1) + np.log(weights)
        top = comp.max(1, keepdims=True)
        return top[:, 0] + np.log(np.exp(comp - top).sum(1))

    return x, log_prob


def bench(name: str, source: str, log_prob, out: Path, args) -> dict:
    trained, record, heldout, per, minutes = train_and_score(out / name, source, args.time_limit, args.trajectories, args.extra)
    truth = log_prob(heldout) / math.log(2)
    diff = truth - per
    return {"name": name, "K": record["K"], "stderr": record["stderr"], "true": float(truth.mean()),
            "gap": float(diff.mean()), "gap_stderr": float(diff.std(ddof=1) / math.sqrt(diff.size)),
            "K_minus_L_null": record["K_minus_L_null"], "K_eq14": record["K_eq14"],
            "per_example_mc": record["mc_stderr_per_example"], "steps": trained["step"],
            "kept": trained.get("weights_from_step", trained["step"]), "estimator": record["estimator"],
            "train_and_eval_minutes": minutes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-binary"))
    parser.add_argument("--trajectories", type=int, default=4, help="of the held-out score (which sums every step)")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("extra", nargs="*", help="more `thermodiff train` options, after --")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    x, log_prob = bernoulli_mixture(20000, np.random.default_rng(5))
    np.save(args.out / "bernmix16.npy", x)

    def builtin_truth(source):
        return load_dataset(DataConfig(source=source)).log_density

    sets = {
        "heartbeat": ("heartbeat", builtin_truth("heartbeat")),
        "heartbeat30_6": ("heartbeat:length=30,period=6", builtin_truth("heartbeat:length=30,period=6")),
        "bernmix16": (str(args.out / "bernmix16.npy"), log_prob),
    }
    rows = []
    for name, (source, truth) in sets.items():
        if args.only and name not in args.only:
            continue
        rows.append(bench(name, source, truth, args.out, args))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| data | K (bits/sequence) | true | gap | K - L_null | steps (weights kept) | minutes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['K']:.4f} ± {r['stderr']:.4f} | {r['true']:.4f} | {r['gap']:.4f} ± {r['gap_stderr']:.4f} "
              f"| {r['K_minus_L_null']:.3f} | {r['steps']} ({r['kept']}) | {r['train_and_eval_minutes']:.1f} |")


if __name__ == "__main__":
    main()
