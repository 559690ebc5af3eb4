"""Multi-process training with PyTorch's own engine: torchrun + DistributedDataParallel.

Under torchrun (WORLD_SIZE > 1) each process joins a process group: NCCL on GPUs, gloo on
CPUs. Every process draws the same global batch from the same seeded generator and keeps its
own contiguous slice, so the result matches one process with the same global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def local_slice(self, n: int) -> slice:
        if n % self.world_size:
            raise ConfigError(f"the batch of {n} does not split evenly over {self.world_size} processes")
        per = n // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)


def default_device(local_rank: int = 0) -> torch.device:
    return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")


def init(device: str | None = None) -> DistContext:
    """Join the process group if launched by torchrun; otherwise a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device) if device else default_device(local_rank)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistContext(rank=rank, world_size=world, device=dev)


def all_gather_cat(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every process's ``x`` in rank order (the global batch order)."""
    if not ctx.distributed:
        return x
    parts = [torch.empty_like(x) for _ in range(ctx.world_size)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def gather_rows(x: torch.Tensor, sizes: list[int], ctx: DistContext) -> torch.Tensor:
    """Every process's rows of ``x`` in rank order, when process p holds ``sizes[p]`` rows (the
    parts may differ in size: each is padded to the largest for the collective, then trimmed)."""
    if not ctx.distributed:
        return x
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def max_over_processes(values: list[float], ctx: DistContext) -> list[float]:
    """Each value's maximum over the processes (one collective for all of them)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
