"""What the bound, the optimizer and the bookkeeping cost on top of the network itself.

For the Swiss roll's MLP (default settings, batch 1024) and the dead leaves' multi-scale network
(default settings, batch 64) it times, interleaved and side by side in one process:
- training: the network's own forward and backward pass on a batch of the same shape, against
  one whole training step (draws, the bound through ``minus_K``, backward, gradient clipping,
  Adam, the moving average, the per-step statistics);
- sampling: the network's own forward pass, against one whole reverse step (the kernel from the
  network's output, and the draw).
It prints the medians over --repeats and the overhead of the whole step over the network alone.

    python benchmarks/step_overhead.py --repeats 200 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from thermodiff.data import DataConfig, load_dataset, make_splits
from thermodiff.presets import configure
from thermodiff.run import Run
from thermodiff.training import distributed
from thermodiff.training.loop import Trainer

CASES = {"swissroll MLP": "swissroll", "deadleaves multi-scale": "deadleaves:n=2000"}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def trainer_for(source: str, root: Path) -> Trainer:
    data = DataConfig(source=source)
    dataset = load_dataset(data)
    splits = make_splits(dataset.x, data)
    run = Run.create(root / source.split(":")[0], configure(dataset, splits.train, {}), dataset, splits)
    return Trainer(run.training_job(splits), distributed.init("cpu"))


def training_pair(trainer: Trainer):
    """(network forward + backward alone, one whole training step), as callables."""
    B, net = trainer.config.batch_size, trainer.model.network
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, *trainer.data.example_shape, generator=gen)
    t = torch.randint(1, trainer.model.T + 1, (B,), generator=gen)
    s = trainer.model.process.time_coordinate()[t]

    def network_only() -> None:
        net.zero_grad(set_to_none=True)
        net(x, t, s).square().mean().backward()

    def whole_step() -> None:
        trainer.train_step(0.1)
        trainer.step += 1

    return network_only, whole_step


def sampling_pair(trainer: Trainer, n: int):
    """(network forward alone, one whole reverse step: kernel and draw), as callables, no gradients."""
    model, process = trainer.model, trainer.model.process
    gen = torch.Generator().manual_seed(0)
    x = process.sample_prior((n, *trainer.data.example_shape), gen, torch.device("cpu"))
    t = torch.full((n,), model.T // 2, dtype=torch.long)
    s = process.time_coordinate()[t]
    x32 = x.float()

    @torch.no_grad()
    def network_only() -> None:
        model.network(x32, t, s)

    @torch.no_grad()
    def whole_step() -> None:
        process.sample_step(model.kernel(x, t, process.table()), gen)

    return network_only, whole_step


def interleaved(pair, repeats: int) -> tuple[float, float]:
    a_fn, b_fn = pair
    for _ in range(10):
        a_fn(), b_fn()
    a, b = [], []
    for _ in range(repeats):
        a.append(_timed(a_fn))
        b.append(_timed(b_fn))
    return statistics.median(a), statistics.median(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, medians of {args.repeats} interleaved repeats")
    print(f"{'network':>24} {'what':>9} {'network ms':>11} {'whole ms':>9} {'overhead':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in CASES.items():
            trainer = trainer_for(source, Path(tmp))
            B = trainer.config.batch_size
            for what, pair in (("train", training_pair(trainer)), ("sample", sampling_pair(trainer, B))):
                net, whole = interleaved(pair, args.repeats)
                print(f"{name:>24} {what:>9} {net * 1e3:>11.2f} {whole * 1e3:>9.2f} {100 * (whole / net - 1):>8.1f}%")


if __name__ == "__main__":
    main()
