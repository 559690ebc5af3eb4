"""What a factorized Bernoulli reverse kernel must leave on the heartbeat, whatever the network.

With the optimal per-bit reverse rates, computed exactly by enumerating the data's few patterns
(``EnumerationOracle`` in tests/helpers.py), the bound K still falls short of log P(x), because
each reverse step treats the bits as independent. This prints that floor for several T.

    python benchmarks/binary_floor.py --T 1000 2000 4000
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import EnumerationOracle  # noqa: E402

from thermodiff.bound import estimate_bound  # noqa: E402
from thermodiff.model import DiffusionModel  # noqa: E402
from thermodiff.process import DiffusionConfig, make_process  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, nargs="*", default=[1000, 2000])
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--period", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=400, help="copies of each pattern scored")
    args = parser.parse_args()
    patterns = np.zeros((args.period, args.length))
    for phase in range(args.period):
        patterns[phase, phase::args.period] = 1
    pi = float(patterns.mean())
    x = torch.as_tensor(np.repeat(patterns, args.repeats, axis=0))
    print(f"truth {-math.log2(args.period):.4f} bits per sequence")
    for T in args.T:
        process = make_process(DiffusionConfig(process="binomial", T=T, schedule="paper", beta_1=1 / T, pi=pi))
        model = DiffusionModel(process, EnumerationOracle(process, patterns, pi))
        est = estimate_bound(model, x, torch.Generator().manual_seed(0), trajectories=4, t_samples=400)
        print(f"T = {T}: K with the optimal factorized rates = {float(est.K.mean()):.4f} ± {float(est.K.std() / math.sqrt(len(x))):.4f}")


if __name__ == "__main__":
    main()
