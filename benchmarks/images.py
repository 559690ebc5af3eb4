"""Image benchmark: the bound in bits/pixel and bits/dim against a full-covariance Gaussian.

Trains each data set as a user would (`thermodiff train DATA --time-limit MINUTES`, default
settings), evaluates the held-out split (`thermodiff evaluate --json`), and writes a sample grid
(`thermodiff sample --png`). Data sets:
- deadleaves, textures (scikit-image's brick photograph), digits: the built-ins;
- gravel16: 16x16 patches of another photograph (gravel), given as a uint8 .npy file, as data
  the defaults were not tuned on.

    python benchmarks/images.py --time-limit 30 --out runs/bench-images --docs docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from common import run
from thermodiff.data import textures


def bench(name: str, source: str, args) -> dict:
    run_dir = args.out / name
    if run_dir.exists():
        sys.exit(f"{run_dir} exists; remove it or choose another --out")
    started = time.monotonic()
    run([sys.executable, "-m", "thermodiff", "train", source, "--out", str(run_dir), "--time-limit", str(args.time_limit)])
    train_minutes = (time.monotonic() - started) / 60
    started = time.monotonic()
    record = json.loads(run([sys.executable, "-m", "thermodiff", "evaluate", str(run_dir), "--json"]))
    eval_minutes = (time.monotonic() - started) / 60
    config = json.loads((run_dir / "config.json").read_text())
    steps = json.loads((run_dir / "evaluation.json").read_text())["step"]
    grid = args.out / f"{name}_samples.png"
    run([sys.executable, "-m", "thermodiff", "sample", str(run_dir), "--n", "64", "--out", str(args.out / f"{name}_samples.npy"),
         "--png", str(grid)])
    if args.docs is not None:
        args.docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(grid, args.docs / grid.name)
    batch = config["config"]["train"]["batch_size"]
    return {"name": name, "K": record["K"], "stderr": record["stderr"], "K_minus_L_null": record["K_minus_L_null"],
            "bits_per_dim": record["bits_per_dim"], "bits_per_dim_stderr": record["bits_per_dim_stderr"],
            "gaussian_bits_per_dim": record["gaussian_bits_per_dim"],
            "advantage_bits_per_dim": record["gaussian_bits_per_dim"] - record["bits_per_dim"],
            "n_heldout": record["n_examples"], "steps": steps, "train_minutes": train_minutes,
            "images_per_second": steps * batch / (train_minutes * 60), "eval_minutes": eval_minutes,
            "reference": record.get("reference", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=30.0, help="training minutes per data set")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-images"))
    parser.add_argument("--docs", type=Path, default=None, help="copy the sample grids here")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    gravel = args.out / "gravel16.npy"
    np.save(gravel, textures.generate(20000, np.random.default_rng(3), size=16, image="gravel"))
    sets = {"deadleaves": "deadleaves", "textures": "textures", "digits": "digits", "gravel16": str(gravel)}
    rows = []
    for name, source in sets.items():
        if args.only and name not in args.only:
            continue
        rows.append(bench(name, source, args))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| data | K (bits/pixel) | K - L_null | bits/dim | Gaussian bits/dim | better by | steps | train min | images/s | eval min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['K']:.3f} ± {r['stderr']:.3f} | {r['K_minus_L_null']:.3f} | {r['bits_per_dim']:.3f} ± "
              f"{r['bits_per_dim_stderr']:.3f} | {r['gaussian_bits_per_dim']:.3f} | {r['advantage_bits_per_dim']:.3f} | {r['steps']} "
              f"| {r['train_minutes']:.1f} | {r['images_per_second']:.0f} | {r['eval_minutes']:.1f} |")


if __name__ == "__main__":
    main()
