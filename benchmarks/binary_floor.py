"""What a factorized Bernoulli reverse kernel must leave on binary data, whatever the network.

With the optimal per-bit reverse rates, computed exactly by enumerating the components of the
data's distribution (``EnumerationOracle`` in tests/helpers.py), the bound K still falls short of
log P(x), because each reverse step treats the bits as independent given x_t. This prints that
floor (the smallest gap a trained network can reach) for the data sets of benchmarks/binary.py,
scored with the estimator that sums every step.

    python benchmarks/binary_floor.py --T 1000 2000 --examples 5000
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from binary import bernmix16_parameters, bernoulli_mixture  # noqa: E402
from helpers import EnumerationOracle  # noqa: E402

from thermodiff.evaluation.estimate import estimate_bound  # noqa: E402
from thermodiff.model import DiffusionModel  # noqa: E402
from thermodiff.processes import DiffusionConfig, make_process  # noqa: E402


def heartbeat(length: int, period: int, n: int):
    """(component rates, weights, n examples cycling through the phases, log2 p per example)."""
    patterns = np.zeros((period, length))
    for phase in range(period):
        patterns[phase, phase::period] = 1
    x = patterns[np.arange(n) % period]
    return patterns, None, x, np.full(n, -math.log2(period))


def bernmix16(n: int):
    weights, rates = bernmix16_parameters(np.random.default_rng(5))  # the benchmark's seed: the same distribution
    x, log_prob = bernoulli_mixture(n, np.random.default_rng(5))
    return rates, weights, x, log_prob(x) / math.log(2)


DATA = {"heartbeat": lambda n: heartbeat(20, 5, n), "heartbeat30_6": lambda n: heartbeat(30, 6, n), "bernmix16": bernmix16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=list(DATA), choices=list(DATA))
    parser.add_argument("--T", type=int, nargs="*", default=[2000])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--trajectories", type=int, default=2)
    args = parser.parse_args()
    print("| data | T | true (bits/sequence) | K, optimal factorized rates | floor of the gap |")
    print("|---|---|---|---|---|")
    for name in args.data:
        rates, weights, x, truth = DATA[name](args.examples)
        pi = float(np.clip(x.mean(), 1e-3, 1 - 1e-3))  # as a run chooses it: the data's mean activity
        for T in args.T:
            process = make_process(DiffusionConfig(process="binomial", T=T, schedule="paper", beta_1=1 / T, pi=pi))
            model = DiffusionModel(process, EnumerationOracle(process, rates, pi, weights))
            est = estimate_bound(model, torch.as_tensor(x), torch.Generator().manual_seed(0), trajectories=args.trajectories)
            gap = truth - est.K.numpy()
            gap_se = gap.std(ddof=1) / math.sqrt(gap.size)
            print(f"| {name} | {T} | {truth.mean():.4f} | {est.mean():.4f} ± {est.stderr():.4f} | {gap.mean():.4f} ± {gap_se:.4f} |",
                  flush=True)


if __name__ == "__main__":
    main()
