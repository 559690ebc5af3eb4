"""Continuous time against discrete time, at equal wall-clock budgets, and what fewer sampling steps cost.

images: for each image set, train the discrete-time default and `--process continuous` (default
settings otherwise, the same `--time-limit`), evaluate the held-out split (`thermodiff evaluate
--json`), and print bits/dim beside the full-covariance Gaussian on the same images.

    python benchmarks/continuous.py images --time-limit 30 --out runs/bench-ct --only textures deadleaves digits

``--processes continuous-unet`` adds continuous time with the U-Net (`--network unet`) on the same budget.

sampling: for a continuous-time run, the bound of the N-step chain obtained from it
(`evaluate --steps N`) and the wall time of `sample --n 64 --steps N`, for N = 1000, 250, 100,
50, 20, next to the continuous-time bound; the samples go to PNG grids.

    python benchmarks/continuous.py sampling runs/bench-ct/textures-continuous --png-dir docs

steptime: one training step's median time, side by side, for the discrete-time default, continuous
time, and continuous time with the U-Net (default settings otherwise): whether a time limit binds,
and what the U-Net costs.

    python benchmarks/continuous.py steptime textures --repeats 20

For the toy sets with an exact density, benchmarks/core.py takes the process after `--`:
    python benchmarks/core.py --time-limit 5 --out runs/bench-core-ct -- --process continuous
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import run

PROCESSES = {"discrete": [], "continuous": ["--process", "continuous"],
             "continuous-unet": ["--process", "continuous", "--network", "unet"]}


def _thermodiff(*args: str) -> str:
    return run([sys.executable, "-m", "thermodiff", *args])


def image_row(name: str, process: str, args) -> dict:
    run_dir = args.out / f"{name}-{process}"
    if run_dir.exists():
        sys.exit(f"{run_dir} exists; remove it or choose another --out")
    started = time.monotonic()
    _thermodiff("train", name, "--out", str(run_dir), "--time-limit", str(args.time_limit), *PROCESSES[process])
    train_minutes = (time.monotonic() - started) / 60
    started = time.monotonic()
    record = json.loads(_thermodiff("evaluate", str(run_dir), "--json"))
    steps = json.loads((run_dir / "evaluation.json").read_text())["step"]
    return {"data": name, "process": process, "bits_per_dim": record["bits_per_dim"],
            "stderr": record["bits_per_dim_stderr"], "gaussian": record["gaussian_bits_per_dim"], "steps": steps,
            "train_minutes": train_minutes, "eval_minutes": (time.monotonic() - started) / 60,
            "estimator": record["estimator"]}


def images(args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only:
        for process in args.processes:
            rows.append(image_row(name, process, args))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| data | process | bits/dim | Gaussian bits/dim | steps | train min | eval min |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['process']} | {r['bits_per_dim']:.4f} ± {r['stderr']:.4f} | {r['gaussian']:.4f} "
              f"| {r['steps']} | {r['train_minutes']:.1f} | {r['eval_minutes']:.1f} |")


def _bits_per_dim(run_dir: Path, some: list[str], per_example: Path, *steps: str) -> tuple[dict, np.ndarray]:
    """``evaluate --json`` and its per-example bits/dim (bits_per_dim is -K_data / D, and
    --per-example writes each example's K_data)."""
    record = json.loads(_thermodiff("evaluate", str(run_dir), "--json", *some, "--per-example", str(per_example), *steps))
    each = np.load(per_example)
    return record, each * (record["bits_per_dim"] / each.mean())


def sampling(args) -> None:
    run_dir = args.run
    some = (["--max-examples", str(args.max_examples)] if args.max_examples else []) + ["--t-samples", str(args.t_samples)]
    with tempfile.TemporaryDirectory() as tmp:
        continuous, base = _bits_per_dim(run_dir, some, Path(tmp) / "c.npy")
        rows = [{"steps": "continuous", "bits_per_dim": continuous["bits_per_dim"], "stderr": continuous["bits_per_dim_stderr"],
                 "sample_seconds": None, "minus_continuous": None}]
        for N in args.steps:
            started = time.monotonic()
            png = [] if args.png_dir is None else ["--png", str(args.png_dir / f"{run_dir.name}_steps{N}.png")]
            _thermodiff("sample", str(run_dir), "--n", "64", "--steps", str(N), "--out", str(run_dir / f"samples_{N}.npy"), *png)
            seconds = time.monotonic() - started
            record, each = _bits_per_dim(run_dir, some, Path(tmp) / f"{N}.npy", "--steps", str(N))
            diff = each - base  # the same examples: paired
            rows.append({"steps": N, "bits_per_dim": record["bits_per_dim"], "stderr": record["bits_per_dim_stderr"],
                         "sample_seconds": seconds, "minus_continuous": float(diff.mean()),
                         "minus_continuous_stderr": float(diff.std(ddof=1) / np.sqrt(diff.size)), "estimator": record["estimator"]})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| steps | bits/dim (N-step bound) | minus continuous (paired) | sample 64 images (s) |")
    print("|---|---|---|---|")
    for r in rows:
        seconds = "" if r["sample_seconds"] is None else f"{r['sample_seconds']:.1f}"
        extra = "" if r["minus_continuous"] is None else f"{r['minus_continuous']:+.4f} ± {r['minus_continuous_stderr']:.4f}"
        print(f"| {r['steps']} | {r['bits_per_dim']:.4f} ± {r['stderr']:.4f} | {extra} | {seconds} |")


def step_times(args) -> None:
    """Median seconds of one whole training step, interleaved side by side in this process."""
    import statistics
    import tempfile

    from thermodiff.data import DataConfig, load_dataset, make_splits
    from thermodiff.presets import configure
    from thermodiff.run import Run
    from thermodiff.training import distributed
    from thermodiff.training.loop import Trainer

    cases = {"discrete": {}, "continuous": {"diffusion": {"process": "continuous"}},
             "continuous, unet": {"diffusion": {"process": "continuous"}, "model": {"network": "unet"}}}
    data = DataConfig(source=args.data)
    dataset = load_dataset(data)
    splits = make_splits(dataset.x, data)
    if len(dataset.x.shape) != 4:  # the U-Net is for images
        cases.pop("continuous, unet")
    root = Path(tempfile.mkdtemp())
    trainers = {name: Trainer(Run.create(root / str(i), configure(dataset, splits.train, given), dataset, splits)
                              .training_job(splits), distributed.init())
                for i, (name, given) in enumerate(cases.items())}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for repeat in range(args.repeats + 3):
        for name, trainer in trainers.items():
            started = time.perf_counter()
            trainer.train_step(0.1)
            if repeat >= 3:  # the first steps warm up
                times[name].append(time.perf_counter() - started)
    for name, values in times.items():
        print(f"{args.data} {name}: {1000 * statistics.median(values):.1f} ms per training step (median of {args.repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("images")
    p.add_argument("--time-limit", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=Path("runs/bench-ct"))
    p.add_argument("--only", nargs="*", default=["textures", "deadleaves", "digits"])
    p.add_argument("--processes", nargs="*", choices=list(PROCESSES), default=["discrete", "continuous"],
                   help="what to train on each set (continuous-unet: continuous time with --network unet)")
    p = sub.add_parser("sampling")
    p.add_argument("run", type=Path)
    p.add_argument("--steps", type=int, nargs="*", default=[1000, 250, 100, 50, 20])
    p.add_argument("--png-dir", type=Path, default=None)
    p.add_argument("--max-examples", type=int, default=None, help="score only the first held-out examples")
    p.add_argument("--t-samples", type=int, default=50, help="steps (or times) scored per example; 0: every step")
    p = sub.add_parser("steptime")
    p.add_argument("data", nargs="?", default="textures")
    p.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    {"images": images, "sampling": sampling, "steptime": step_times}[args.what](args)


if __name__ == "__main__":
    main()
