"""Data larger than memory: peak resident memory and speed of training on a big uint8 ``.npy``.

It writes a ``.npy`` of random 32x32 RGB uint8 images of --gigabytes (4 by default: 1.3 million
images, more than the 1.5 GB the run may use), then, each in a fresh process, creates a run on it
with the image presets and times --steps training steps; and does the same on a small set of
the same images held in memory (--small examples). It prints each one's peak resident memory (the
whole process: reading the file, fitting the normalization and the baseline, training) and its
steps per second. The issue's targets: peak under 1.5 GB on the big file, and its steps per
second within 10% of the small set's.

    python benchmarks/memory.py --gigabytes 4 --steps 200          # the measurement (a quiet machine)
    python benchmarks/memory.py --gigabytes 0.2 --steps 20          # a smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

IMAGE = (3, 32, 32)
CHUNK = 64 * 2**20  # bytes written at a time


def write_images(path: Path, gigabytes: float, seed: int = 0) -> int:
    """A .npy of random uint8 images of about ``gigabytes``, written a chunk at a time; returns N."""
    per_image = int(np.prod(IMAGE))
    n = int(gigabytes * 1e9) // per_image
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, *IMAGE))
    rng, rows = np.random.default_rng(seed), max(1, CHUNK // per_image)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        out[start:stop] = rng.integers(0, 256, size=(stop - start, *IMAGE), dtype=np.uint8)
    out.flush()
    del out
    return n


def measure(source: Path, small: int | None, steps: int, batch_size: int, root: Path) -> dict:
    """In this process: a run on ``source`` (its first ``small`` images in memory, if given) and
    ``steps`` timed training steps; (steps per second, peak resident MB)."""
    import torch

    from thermodiff.data import DataConfig, load_dataset, make_splits
    from thermodiff.presets import configure
    from thermodiff.run import Run
    from thermodiff.training import distributed
    from thermodiff.training.loop import Trainer

    data = DataConfig(source=str(source))
    dataset = load_dataset(data)
    if small is not None:
        dataset = replace(dataset, x=np.array(dataset.x[:small]))  # read into memory
    splits = make_splits(dataset.x, data)
    config = configure(dataset, splits.train, {"train": {"batch_size": batch_size, "steps": steps}})
    trainer = Trainer(Run.create(root / "run", config, dataset, splits).training_job(splits), distributed.init())
    for _ in range(5):  # warm-up
        trainer.train_step(0.0)
    started = time.perf_counter()
    for i in range(steps):
        trainer.train_step(i / steps)
        trainer.step += 1
    rate = steps / (time.perf_counter() - started)
    assert torch.isfinite(next(trainer.model.parameters())).all()
    return {"steps_per_second": rate, "peak_mb": peak_resident_mb(), "examples": len(dataset.x)}


def peak_resident_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM of its own address space: getrusage's
    ru_maxrss also keeps the peak of the process it was forked from (the parent that wrote the big
    file through a mapping), so it read 3.9 GB for both sets."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(source: Path, small: int | None, steps: int, batch_size: int, root: Path) -> dict:
    """``measure`` in a fresh process, so that its peak memory is its own."""
    args = [sys.executable, __file__, "--child", str(source), "--steps", str(steps), "--batch-size", str(batch_size),
            "--root", str(root), "--small", str(small or 0)]  # 0: the whole file
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=4.0, help="size of the generated file (default 4)")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps (default 200)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    parser.add_argument("--small", type=int, default=10_000, help="images of the in-memory set (default 10000)")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.small if args.small else None, args.steps, args.batch_size,
                                 args.root)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.monotonic()
        n = write_images(tmp / "big.npy", args.gigabytes)
        print(f"wrote {n} images of {IMAGE} uint8 ({n * np.prod(IMAGE) / 1e9:.2f} GB) in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        big = in_child(tmp / "big.npy", None, args.steps, args.batch_size, tmp / "big")
        small = in_child(tmp / "big.npy", min(args.small, n), args.steps, args.batch_size, tmp / "small")
    print(f"{'set':<26}{'examples':>10}{'peak RSS (MB)':>15}{'steps/s':>10}")
    for name, r in (("memory-mapped file", big), ("in memory", small)):
        print(f"{name:<26}{r['examples']:>10}{r['peak_mb']:>15.0f}{r['steps_per_second']:>10.2f}")
    print(f"steps/s of the file against the in-memory set: {big['steps_per_second'] / small['steps_per_second']:.3f} "
          f"(target >= 0.9); peak RSS on the file {big['peak_mb'] / 1024:.2f} GB (target < 1.5)")


if __name__ == "__main__":
    main()
