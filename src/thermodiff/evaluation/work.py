"""How evaluation work is drawn, shared and reported.

- Random streams per example: a draw for example i comes from a generator seeded by (seed, i,
  and the stream's purpose), so it does not depend on which examples share a batch or on how the
  examples are split across processes (torchrun): one process and N processes give the same numbers.
- ``Share``: which examples this process scores, and how the per-example results of every process
  are put back together in the examples' order.
- ``Progress``: what a long computation tells whoever shows progress (the command line: a tqdm bar).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable, Protocol

import numpy as np
import torch
from torch import Tensor


class Stream(IntEnum):
    """What a per-example stream draws (streams of different purposes are independent)."""

    TRAJECTORIES = 1  # forward trajectories of the importance-weighted bound
    PROBES = 2  # Hutchinson's probes of the probability-flow ODE


def example_generator(seed: int, index: int, stream: Stream, device: torch.device, block: int = 0) -> torch.Generator:
    """A generator for example ``index`` (and ``block`` of its draws), independent of every other
    (numpy's SeedSequence mixes the integers into a well-spread 63-bit seed)."""
    state = np.random.SeedSequence([int(seed), int(index), int(stream), int(block)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 31 ^ int(state[1]))


def part_slice(n: int, part: int, parts: int) -> slice:
    """The contiguous share of n examples that process ``part`` of ``parts`` scores (sizes differ by at most 1)."""
    return slice(part * n // parts, (part + 1) * n // parts)


@dataclass(frozen=True)
class Share:
    """This process's part of the examples; ``gather`` concatenates every part's rows in order
    (it receives this part's tensor and the sizes of all parts)."""

    part: int = 0
    parts: int = 1
    gather: Callable[[Tensor, list[int]], Tensor] = field(default=lambda x, sizes: x)

    def local(self, n: int) -> slice:
        return part_slice(n, self.part, self.parts)

    def sizes(self, n: int) -> list[int]:
        return [part_slice(n, p, self.parts).stop - part_slice(n, p, self.parts).start for p in range(self.parts)]

    def all(self, local: Tensor, n: int) -> Tensor:
        """Every process's rows of a per-example result, in the examples' order."""
        return self.gather(local, self.sizes(n)) if self.parts > 1 else local


class Progress(Protocol):
    def start(self, what: str, total: float, unit: str) -> None: ...

    def advance(self, amount: float) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress that nobody watches."""

    def start(self, what: str, total: float, unit: str) -> None:
        pass

    def advance(self, amount: float) -> None:
        pass

    def finish(self) -> None:
        pass
