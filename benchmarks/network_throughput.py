"""Training throughput of the multi-scale convolutional network (forward + backward, no optimizer).

For a batch of 16x16 grey and of 32x32 RGB images with the default MultiScaleConfig (and, with
--dense, the dense pathway of that width), prints the parameter count and images per second:
the median over --repeats timed passes after one warm-up pass.

    python benchmarks/network_throughput.py --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from thermodiff.networks.multiscale import MultiScaleConfig, MultiScaleConvNet

SHAPES = {"16x16 grey": (1, 16, 16), "32x32 RGB": (3, 32, 32)}


def images_per_second(net: MultiScaleConvNet, shape: tuple[int, ...], batch: int, repeats: int) -> float:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=gen)
    t = torch.randint(1, 1001, (batch,), generator=gen)
    s = t.float() / 1000

    def step() -> float:
        start = time.perf_counter()
        net.zero_grad(set_to_none=True)
        net(x, t, s).square().mean().backward()
        return time.perf_counter() - start

    step()  # warm-up: allocations and kernel selection
    return batch / statistics.median(step() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dense", type=int, default=0, help="dense pathway width (0: the default, none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(MultiScaleConfig(), dense=args.dense)
    print(f"config: {config}")
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of {args.repeats}")
    print(f"{'data':>12} {'scales':>6} {'parameters':>11} {'images/s':>9}")
    for name, shape in SHAPES.items():
        torch.manual_seed(0)
        net = MultiScaleConvNet(config, shape, out_channels=2, T=1000)
        n_params = sum(p.numel() for p in net.parameters())
        rate = images_per_second(net, shape, args.batch, args.repeats)
        print(f"{name:>12} {net.n_scales:>6} {n_params:>11,} {rate:>9.0f}")


if __name__ == "__main__":
    main()
